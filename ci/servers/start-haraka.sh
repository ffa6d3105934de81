#!/usr/bin/env bash
# Start Haraka (installed by install-haraka.sh; SMTP 2527, SMTPS 2467) and a Dovecot instance of its own
# (POP3 2112, POP3S 2997) on 127.0.0.1, with every file in one state dir, and write a target file.
# Haraka delivers with the small queue plugin ci/servers/haraka/mailharness_maildir.js into the test
# users' ~/Maildir-haraka, which that Dovecot serves.
#
#   ci/servers/start-haraka.sh [--clean]
#
#   --clean   empty the test users' ~/Maildir-haraka before starting
#
# Environment: MH_HARAKA_DIR (state dir, default /tmp/mailharness-haraka), MH_HARAKA_PREFIX (default
# /opt/mailharness-haraka). Needs root. Runs beside start.sh's Postfix + Dovecot and start-exim.sh's
# Exim. If they already run from this state dir they are stopped first. See docs/real-servers.md.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
DIR="${MH_HARAKA_DIR:-/tmp/mailharness-haraka}"
PREFIX="${MH_HARAKA_PREFIX:-/opt/mailharness-haraka}"
HARAKA_JS="$PREFIX/node_modules/Haraka/bin/haraka"
mh_start_args start-haraka.sh 13 install-haraka.sh node dovecot doveadm openssl -- "$@"
[ -f "$HARAKA_JS" ] || { echo "start-haraka.sh: $HARAKA_JS not found; run ci/servers/install-haraka.sh" >&2; exit 2; }

SMTP_PORT=2527 SMTPS_PORT=2467 POP3_PORT=2112 POP3S_PORT=2997
MAILDIR=Maildir-haraka

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
chmod 0755 "$DIR"
HK="$DIR/haraka"                    # Haraka's folder: config/, plugins/

if [ -d "$HK" ] || [ -f "$DIR/dovecot/dovecot.conf" ]; then
    MH_HARAKA_DIR="$DIR" "$HERE/stop-haraka.sh" >/dev/null 2>&1 || true
fi
: > "$DIR/start.log"

mh_users "$MAILDIR" "$CLEAN"
mh_tls "$DIR/tls" root

# ---- Haraka -----------------------------------------------------------------------------------------
rm -rf "$HK"
# Haraka's stock config folder (connection.ini etc.); the files below replace or add to it.
node "$HARAKA_JS" -i "$HK" >>"$DIR/start.log" 2>&1
cp "$HERE/haraka/mailharness_maildir.js" "$HK/plugins/"
cp "$DIR/tls/cert.pem" "$HK/config/tls_cert.pem"
cp "$DIR/tls/key.pem" "$HK/config/tls_key.pem"
chmod 0600 "$HK/config/tls_key.pem"
# Without dhparams.pem Haraka runs `openssl dhparam 2048` at start (seconds of CPU): RFC 7919's
# ffdhe2048 group instead, written at once.
openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "$HK/config/dhparams.pem" 2>/dev/null

echo "$MH_MYHOST" > "$HK/config/me"
printf '%s\n' "$MH_DOMAIN" localhost "$MH_MYHOST" > "$HK/config/host_list"
cat > "$HK/config/smtp.ini" <<CF
; Written by ci/servers/start-haraka.sh. One process (nodes=0: no cluster), as root (the queue plugin
; chowns what it delivers).
listen=$MH_HOST:$SMTP_PORT,$MH_HOST:$SMTPS_PORT
smtps_port=$SMTPS_PORT
nodes=0
inactivity_timeout=300
force_shutdown_timeout=5
CF
cat > "$HK/config/log.ini" <<CF
[main]
level=info
timestamps=true
CF
cat > "$HK/config/tls.ini" <<CF
[main]
key=tls_key.pem
cert=tls_cert.pem
CF
# Haraka's own plugins, except mail_from.is_resolvable (it looks the sender's domain up in DNS, and
# there is none here) and rcpt_to.in_host_list (mailharness_maildir also knows the users).
cat > "$HK/config/plugins" <<CF
tls
auth/flat_file
mailharness_maildir
CF
{
    echo "[core]"; echo "methods=PLAIN,LOGIN,CRAM-MD5"; echo; echo "[users]"
    for name in $MH_USERS; do echo "$name=${name}pw"; done
} > "$HK/config/auth_flat_file.ini"
{
    echo "[main]"; echo "domains=$MH_DOMAIN,localhost,$MH_MYHOST"; echo "maildir=$MAILDIR"; echo
    echo "[users]"
    for name in $MH_USERS; do echo "$name=$(getent passwd "mh$name" | cut -d: -f6)"; done
    echo; echo "[aliases]"
    echo "postmaster=alice"; echo "root=alice"; echo "mailer-daemon=alice"
} > "$HK/config/mailharness_maildir.ini"

# ---- Dovecot (serves ~/Maildir-haraka) ------------------------------------------------------------
mh_dovecot_conf "$DIR" mailharness-haraka "$MAILDIR" "$POP3_PORT" "$POP3S_PORT"

MH_LOGS=("$DIR/start.log" "$DIR/dovecot.log" "$DIR/haraka.log")
MH_STOP=(env MH_HARAKA_DIR="$DIR" "$HERE/stop-haraka.sh")

mh_ports_free "$SMTP_PORT" "$SMTPS_PORT" "$POP3_PORT" "$POP3S_PORT" || exit 1

mh_dovecot_start "$DIR" || fail "dovecot failed to start"
mh_wait_ports 20 "$POP3_PORT" "$POP3S_PORT" || fail "dovecot is not listening"
# node itself in the background (not a wrapper), so $! is the PID stop-haraka.sh signals. It must not
# inherit our stdout/stderr: a caller reading them to EOF would wait forever.
node "$HARAKA_JS" -c "$HK" </dev/null >>"$DIR/haraka.log" 2>&1 &
echo $! > "$DIR/haraka.pid"
mh_wait_ports 30 "$SMTP_PORT" "$SMTPS_PORT" || fail "haraka is not listening"
mh_wait_greeting 10 "$SMTP_PORT" || fail "haraka does not greet"

VERSION="$(node -p "require('$PREFIX/node_modules/Haraka/package.json').version")"
mh_target_file "$DIR/target.yaml" haraka-dovecot "Haraka $VERSION (node $(node --version)) + Dovecot $(dovecot --version | cut -d' ' -f1)" \
    "$SMTP_PORT" "$SMTPS_PORT" "$POP3_PORT" "$POP3S_PORT" </dev/null

echo "haraka up: SMTP $MH_HOST:$SMTP_PORT, SMTPS $MH_HOST:$SMTPS_PORT; dovecot: POP3 $MH_HOST:$POP3_PORT, POP3S $MH_HOST:$POP3S_PORT"
echo "$DIR/target.yaml"
