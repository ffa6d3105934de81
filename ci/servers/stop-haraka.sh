#!/usr/bin/env bash
# Stop the Haraka and Dovecot started by ci/servers/start-haraka.sh, by the PIDs in their pid files (never
# by process name). Safe to run when nothing is running. Environment: MH_HARAKA_DIR (default
# /tmp/mailharness-haraka).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
DIR="${MH_HARAKA_DIR:-/tmp/mailharness-haraka}"
# node's command line names Haraka's folder.
mh_stop_pidfile "$DIR/haraka.pid" haraka "$DIR/haraka"
mh_dovecot_stop "$DIR"
exit 0
