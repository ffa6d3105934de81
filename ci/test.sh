#!/usr/bin/env bash
# The test command from the README. As root it first installs what the tests use from Debian when it
# is missing: Postfix + Dovecot (ci/servers/install.sh), Chromium (report and web-UI tests, driven by
# playwright) and tshark (pcap decoding), in one apt run; then Exim, unpacked beside Postfix
# (ci/servers/install-exim.sh), and Haraka from npm (ci/servers/install-haraka.sh). The tests start
# their own servers: the embedded reference server on free loopback ports, Postfix, Exim, Haraka and
# their Dovecot instances on fixed ones.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
    # dumpcap need not be setuid for a group: captures here run as root.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    bash ci/servers/install.sh chromium tshark
    # Not fatal here: without them the whole suite still runs, and test_exim.py / test_haraka.py fail
    # (in CI) or skip with the reason.
    bash ci/servers/install-exim.sh || echo "ci/test.sh: Exim could not be installed" >&2
    bash ci/servers/install-haraka.sh || echo "ci/test.sh: Haraka could not be installed" >&2
fi
# PYTHONSAFEPATH: neither this pytest nor the Python processes the tests start put the current folder
# on sys.path, so `harness` is the installed package (in CI the wheel .ci/run built), never the
# checkout's harness/ folder shadowing it (tests/conftest.py appends the checkout for `tests.*`).
export PYTHONSAFEPATH=1
status=0
python3 -m pytest -q "$@" || status=$?
bash ci/servers/stop.sh >/dev/null 2>&1 || true
bash ci/servers/stop-exim.sh >/dev/null 2>&1 || true
bash ci/servers/stop-haraka.sh >/dev/null 2>&1 || true
exit "$status"
