#!/usr/bin/env bash
# Stop the Exim and Dovecot started by ci/servers/start-exim.sh, by the PIDs in their pid files (never
# by process name). Safe to run when nothing is running. Environment: MH_EXIM_DIR (default
# /tmp/mailharness-exim).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
DIR="${MH_EXIM_DIR:-/tmp/mailharness-exim}"
# The daemon's command line names its config file.
mh_stop_pidfile "$DIR/exim-run/exim.pid" exim "$DIR/exim/exim.conf"
mh_dovecot_stop "$DIR"
exit 0
