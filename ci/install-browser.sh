#!/usr/bin/env bash
# Headless Chromium for the report and web-UI tests: Debian's chromium, driven by Python playwright
# (pinned in pyproject's dev extra). Never `playwright install`: it downloads a browser, which fails here.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "install-browser.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium present)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser.sh: /usr/bin/chromium missing and not root" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
