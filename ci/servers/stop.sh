#!/usr/bin/env bash
# Stop the Postfix and Dovecot started by ci/servers/start.sh (by their own stop commands / pid files,
# never by process name). Environment: MH_SERVERS_DIR (default /tmp/mailharness-servers).
set -uo pipefail

DIR="${MH_SERVERS_DIR:-/tmp/mailharness-servers}"
PF="$DIR/postfix"
PFQ="$DIR/postfix-spool"
DVCONF="$DIR/dovecot/dovecot.conf"
DVPID="$DIR/dovecot-run/master.pid"
rc=0

wait_gone() {   # wait_gone PID SECONDS
    local i
    for i in $(seq 1 $(( $2 * 10 ))); do
        kill -0 "$1" 2>/dev/null || return 0
        # A zombie (PID 1 here does not reap) counts as gone.
        [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = "Z" ] && return 0
        sleep 0.1
    done
    return 1
}

# Postfix
if [ -f "$PF/main.cf" ]; then
    pid="$(tr -dc 0-9 2>/dev/null < "$PFQ/pid/master.pid" || true)"
    if postfix -c "$PF" status >/dev/null 2>&1; then
        postfix -c "$PF" stop || rc=1
        if [ -n "$pid" ] && ! wait_gone "$pid" 10; then
            echo "stop.sh: postfix master $pid still running; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "stop.sh: postfix stopped"
    else
        echo "stop.sh: postfix not running"
    fi
fi

# Dovecot
if [ -f "$DVPID" ]; then
    pid="$(tr -dc 0-9 < "$DVPID")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        doveadm -c "$DVCONF" stop 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 10; then
            echo "stop.sh: dovecot master $pid still running; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "stop.sh: dovecot stopped"
    else
        echo "stop.sh: dovecot not running"
    fi
    rm -f "$DVPID"
else
    echo "stop.sh: dovecot not running"
fi
exit $rc
