#!/usr/bin/env bash
# The review page's browser test drives Debian's chromium through playwright-core. This
# installs chromium when it is missing and we may (root, apt-get present); otherwise it says
# what to install and exits 0, and the browser test then fails naming what is missing.
set -euo pipefail
for b in "${CHROMIUM_PATH:-}" chromium chromium-browser; do
  if [ -n "$b" ] && command -v "$b" >/dev/null 2>&1; then
    echo "[chromium] $(command -v "$b")"
    exit 0
  fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[chromium] installing Debian's chromium (for the review page's browser test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  echo "[chromium] $(command -v chromium)"
else
  echo "[chromium] not found and cannot install it here: run 'sudo apt-get install chromium' (or set CHROMIUM_PATH)" >&2
fi
