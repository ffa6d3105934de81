#!/usr/bin/env bash
# Stop the Postfix and Dovecot started by ci/servers/start.sh (by their own stop commands / pid files,
# never by process name). Environment: MH_SERVERS_DIR (default /tmp/mailharness-servers).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
DIR="${MH_SERVERS_DIR:-/tmp/mailharness-servers}"
PF="$DIR/postfix"
rc=0

# Postfix
if [ -f "$PF/main.cf" ]; then
    pid="$(tr -dc 0-9 2>/dev/null < "$DIR/postfix-spool/pid/master.pid" || true)"
    if postfix -c "$PF" status >/dev/null 2>&1; then
        if [ -n "$pid" ]; then
            mh_term_wait "$pid" postfix postfix -c "$PF" stop
        else
            postfix -c "$PF" stop || rc=1
            echo "stop.sh: postfix stopped"
        fi
    else
        echo "stop.sh: postfix not running"
    fi
fi

mh_dovecot_stop "$DIR"
exit $rc
