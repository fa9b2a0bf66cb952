#!/usr/bin/env bash
# The UI tests drive Debian's Chromium through Playwright (executable_path=/usr/bin/chromium);
# Playwright's own browser download cannot work here, so never `playwright install`.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing and installing it needs root: apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
echo "installing Debian's chromium for the UI tests"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium chromium-driver
