#!/usr/bin/env bash
# Runs every benchmark under bench/ (compiled to dist/bench) against the local broker and
# registry, starting them if needed. Each benchmark prints `name: value unit` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
started=0
if ! bash docker/local/services.sh status >/dev/null 2>&1; then
  bash docker/local/services.sh up >&2
  started=1
fi
if [[ $started == 1 ]]; then trap 'bash docker/local/services.sh down >&2 || true' EXIT; fi
set -a; source "${VALOR_LOCAL_DIR:-.local}/services.env"; set +a
for b in dist/bench/*.bench.js; do
  echo "# $(basename "$b" .bench.js)"
  node "$b"
done
