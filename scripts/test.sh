#!/usr/bin/env bash
# Runs the test suites. Unit tests need nothing; integration tests get a real Kafka broker
# and Apicurio registry started here and stopped on exit (unless they were already up).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
results="$(mktemp -d)"
status=0

node scripts/gen-types.js --check
npx tsc -p tsconfig.json --noEmit
# Formatting and lint are part of the tests: `make format` fixes the first.
npx prettier --check --log-level warn .
npx eslint .

if [[ "$what" == all || "$what" == unit ]]; then
  npx jest --selectProjects unit --forceExit --json --outputFile="$results/unit.json" || status=1
fi

if [[ "$what" == all || "$what" == integration ]]; then
  started=0
  if ! bash docker/local/services.sh status >/dev/null 2>&1; then
    bash docker/local/services.sh up
    started=1
  fi
  if [[ $started == 1 ]]; then trap 'bash docker/local/services.sh down || true' EXIT; fi
  set -a; source "${VALOR_LOCAL_DIR:-.local}/services.env"; set +a
  npx jest --selectProjects integration --runInBand --forceExit --json --outputFile="$results/integration.json" || status=1
fi

# One plain summary line over every suite, for people and CI logs alike.
node -e '
  const fs = require("fs"); let p = 0, f = 0, s = 0;
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + file, "utf8"));
    p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests;
  }
  console.log(`tests: ${p} passed, ${f} failed, ${s} skipped`);
' "$results"
exit $status
