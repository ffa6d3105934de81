#!/usr/bin/env bash
# Start Exim 4 (unpacked by install-exim.sh; SMTP 2526, SMTPS 2466) and a Dovecot instance of its own
# (POP3 2111, POP3S 2996) on 127.0.0.1, with every file in one state dir, and write a target file.
# Exim delivers into the test users' ~/Maildir-exim, which that Dovecot serves.
#
#   ci/servers/start-exim.sh [--clean]
#
#   --clean   empty the test users' ~/Maildir-exim before starting
#
# Environment: MH_EXIM_DIR (state dir, default /tmp/mailharness-exim), MH_EXIM_PREFIX (default
# /opt/mailharness-exim). Needs root and install-exim.sh. Runs beside start.sh's Postfix + Dovecot.
# If they already run from this state dir they are stopped first. See docs/real-servers.md.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
DIR="${MH_EXIM_DIR:-/tmp/mailharness-exim}"
PREFIX="${MH_EXIM_PREFIX:-/opt/mailharness-exim}"
EXIM="$PREFIX/usr/sbin/exim4"
mh_start_args start-exim.sh 12 install-exim.sh dovecot doveadm openssl -- "$@"
[ -x "$EXIM" ] || { echo "start-exim.sh: $EXIM not found; run ci/servers/install-exim.sh" >&2; exit 2; }

SMTP_PORT=2526 SMTPS_PORT=2466 POP3_PORT=2111 POP3S_PORT=2996
MAILDIR=Maildir-exim

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
chmod 0755 "$DIR"
CONF="$DIR/exim/exim.conf"

if [ -f "$CONF" ] || [ -f "$DIR/dovecot/dovecot.conf" ]; then
    MH_EXIM_DIR="$DIR" "$HERE/stop-exim.sh" >/dev/null 2>&1 || true
fi
: > "$DIR/start.log"

mh_users "$MAILDIR" "$CLEAN"
mh_tls "$DIR/tls" Debian-exim          # Exim reads the key after dropping to Debian-exim

# ---- Exim -------------------------------------------------------------------------------------------
mkdir -p "$DIR/exim" "$DIR/exim-spool" "$DIR/exim-log" "$DIR/exim-run"
chown Debian-exim:Debian-exim "$DIR/exim-spool" "$DIR/exim-log" "$DIR/exim-run"
chmod 0750 "$DIR/exim-spool"

# Aliases (as start.sh's for Postfix) and the SMTP AUTH secrets (login: password).
{
    echo "postmaster: mhalice"; echo "root: mhalice"; echo "mailer-daemon: mhalice"
    for name in $MH_USERS; do echo "$name: mh$name"; done
} > "$DIR/exim/aliases"
for name in $MH_USERS; do echo "$name: ${name}pw"; done > "$DIR/exim/passwd"
chown root:Debian-exim "$DIR/exim/aliases" "$DIR/exim/passwd"
chmod 0640 "$DIR/exim/aliases" "$DIR/exim/passwd"

# Close to Debian's own exim4.conf.template where it matters for the checks (ACLs, maildir_home
# transport, AUTH only after TLS); everything local, nothing routed off the machine.
cat > "$CONF" <<CF
# Written by ci/servers/start-exim.sh; run with: $EXIM -C $CONF -bd -q1m
exim_path = $EXIM
keep_environment =
primary_hostname = $MH_MYHOST
qualify_domain = $MH_DOMAIN
domainlist local_domains = $MH_DOMAIN : localhost : $MH_MYHOST
hostlist relay_from_hosts =

daemon_smtp_ports = $SMTP_PORT : $SMTPS_PORT
tls_on_connect_ports = $SMTPS_PORT
local_interfaces = $MH_HOST
spool_directory = $DIR/exim-spool
log_file_path = $DIR/exim-log/%slog
pid_file_path = $DIR/exim-run/exim.pid
log_selector = +smtp_protocol_error +smtp_syntax_error +tls_cipher +incoming_port

tls_advertise_hosts = *
tls_certificate = $DIR/tls/cert.pem
tls_privatekey = $DIR/tls/key.pem

# Deliver at once from the receiving process (Exim's default), however many messages a connection sends.
queue_only = false
smtp_accept_queue_per_connection = 0
# The suites open up to ~16 connections at a time (8 jobs, each may hold SMTP and POP3).
smtp_accept_max = 100
never_users = root
host_lookup =
rfc1413_hosts =
ignore_bounce_errors_after = 2d
timeout_frozen_after = 7d

acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  accept  hosts = :
  deny    domains = +local_domains
          local_parts = ^[.] : ^.*[@%!/|]
          message = restricted characters in address
  accept  domains = +local_domains
          verify = recipient
  accept  authenticated = *
  deny    message = relay not permitted

begin routers

# Nothing leaves the machine: mail to other domains (authenticated relay, bounces) is dropped.
nonlocal_discard:
  driver = redirect
  domains = ! +local_domains
  data = :blackhole:

system_aliases:
  driver = redirect
  domains = +local_domains
  data = \${lookup{\$local_part}lsearch{$DIR/exim/aliases}}

local_user:
  driver = accept
  domains = +local_domains
  check_local_user
  local_parts = ! root
  transport = maildir_home

begin transports

maildir_home:
  driver = appendfile
  directory = \$home/$MAILDIR
  delivery_date_add
  envelope_to_add
  return_path_add
  maildir_format
  directory_mode = 0700
  mode = 0600
  mode_fail_narrower = false

begin retry
*   *   F,2h,15m; G,16h,1h,1.5; F,4d,6h

begin authenticators

# As Debian's template: AUTH is advertised only inside TLS. Secrets from $DIR/exim/passwd.
plain_server:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and{{!eq{\$auth3}{}}{eq{\$auth3}{\${lookup{\$auth2}lsearch{$DIR/exim/passwd}}}}}}
  server_set_id = \$auth2
  server_advertise_condition = \${if def:tls_in_cipher}

login_server:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = \${if and{{!eq{\$auth2}{}}{eq{\$auth2}{\${lookup{\$auth1}lsearch{$DIR/exim/passwd}}}}}}
  server_set_id = \$auth1
  server_advertise_condition = \${if def:tls_in_cipher}

cram_md5_server:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = \${lookup{\$auth1}lsearch{$DIR/exim/passwd}{\$value}fail}
  server_set_id = \$auth1
  server_advertise_condition = \${if def:tls_in_cipher}
CF
chown root:root "$CONF"
chmod 0644 "$CONF"

# A -C config not in the compiled-in trusted list makes Exim drop root (then it cannot bind or deliver).
mkdir -p /etc/exim4
touch /etc/exim4/trusted_configs
chown root:root /etc/exim4/trusted_configs
chmod 0644 /etc/exim4/trusted_configs
grep -qxF "$CONF" /etc/exim4/trusted_configs || echo "$CONF" >> /etc/exim4/trusted_configs

# ---- Dovecot (serves ~/Maildir-exim) --------------------------------------------------------------
mh_dovecot_conf "$DIR" mailharness-exim "$MAILDIR" "$POP3_PORT" "$POP3S_PORT"

MH_LOGS=("$DIR/start.log" "$DIR/dovecot.log" "$DIR/exim-log/mainlog" "$DIR/exim-log/paniclog")
MH_STOP=(env MH_EXIM_DIR="$DIR" "$HERE/stop-exim.sh")

mh_ports_free "$SMTP_PORT" "$SMTPS_PORT" "$POP3_PORT" "$POP3S_PORT" || exit 1
"$EXIM" -C "$CONF" -bV >>"$DIR/start.log" 2>&1 || fail "exim rejects its config"

mh_dovecot_start "$DIR" || fail "dovecot failed to start"
mh_wait_ports 20 "$POP3_PORT" "$POP3S_PORT" || fail "dovecot is not listening"
# -bd daemonizes (the parent exits once the daemon runs); -q1m retries deferred deliveries every minute.
"$EXIM" -C "$CONF" -bd -q1m </dev/null >>"$DIR/start.log" 2>&1 || fail "exim failed to start"
mh_wait_ports 20 "$SMTP_PORT" "$SMTPS_PORT" || fail "exim is not listening"
mh_wait_greeting 10 "$SMTP_PORT" || fail "exim does not greet"

VERSION="$("$EXIM" -C "$CONF" -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p')"
mh_target_file "$DIR/target.yaml" exim-dovecot "Exim $VERSION (Debian exim4-daemon-light) + Dovecot $(dovecot --version | cut -d' ' -f1)" \
    "$SMTP_PORT" "$SMTPS_PORT" "$POP3_PORT" "$POP3S_PORT" </dev/null

echo "exim up: SMTP $MH_HOST:$SMTP_PORT, SMTPS $MH_HOST:$SMTPS_PORT; dovecot: POP3 $MH_HOST:$POP3_PORT, POP3S $MH_HOST:$POP3S_PORT"
echo "$DIR/target.yaml"
