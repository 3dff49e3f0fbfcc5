#!/bin/sh
# Installs Debian's chromium for the headless browser tests (test/server/web-page.test.ts).
# Idempotent: does nothing when /usr/bin/chromium exists. Never downloads a browser build from
# anywhere but the system's apt sources (playwright-core drives this binary; it fetches nothing).
set -eu
if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-chromium: not root and no sudo; install the 'chromium' package yourself" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq || true
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
