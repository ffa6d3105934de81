#!/usr/bin/env bash
# The test command from the README. As root it first installs what the tests use from Debian when it
# is missing (Postfix + Dovecot, Chromium, tshark; each script is idempotent). The tests start their own
# servers: the embedded reference server on free loopback ports, Postfix + Dovecot on fixed ones.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
    bash ci/servers/install.sh
    bash ci/install-browser.sh
    bash ci/install-tools.sh
fi
status=0
python3 -m pytest -q "$@" || status=$?
bash ci/servers/stop.sh >/dev/null 2>&1 || true
exit "$status"
