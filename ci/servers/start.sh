#!/usr/bin/env bash
# Start real Postfix (SMTP 2525, submission 2587, SMTPS 2465) and Dovecot (POP3 2110, POP3S 2995) on
# 127.0.0.1 for mailharness, with every file in one state dir, and write a target file for them.
#
#   ci/servers/start.sh [--smuggling-fix] [--clean]
#
#   --smuggling-fix  smtpd_forbid_bare_newline = normalize, with an empty exclusion list
#                    (default: Postfix 3.7's own default, which is vulnerable to SMTP smuggling)
#   --clean          empty the test users' Maildirs before starting
#
# Environment: MH_SERVERS_DIR (default /tmp/mailharness-servers).
# Needs root and ci/servers/install.sh. If the servers already run from this state dir they are stopped
# first, so this also restarts them. See docs/real-servers.md.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
DIR="${MH_SERVERS_DIR:-/tmp/mailharness-servers}"
SMUGGLING_FIX=0
ARGS=()
for arg in "$@"; do
    if [ "$arg" = --smuggling-fix ]; then SMUGGLING_FIX=1; else ARGS+=("$arg"); fi
done
mh_start_args start.sh 14 install.sh postfix postconf postalias dovecot doveadm openssl -- "${ARGS[@]}"

HOST=$MH_HOST DOMAIN=$MH_DOMAIN MYHOST=$MH_MYHOST
SMTP_PORT=2525 SUBMISSION_PORT=2587 SMTPS_PORT=2465 POP3_PORT=2110 POP3S_PORT=2995

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
chmod 0755 "$DIR"      # Postfix and Dovecot daemons (unprivileged uids) must traverse it
PF="$DIR/postfix"              # Postfix config_directory
PFQ="$DIR/postfix-spool"       # Postfix queue_directory
PFD="$DIR/postfix-data"        # Postfix data_directory
DV="$DIR/dovecot"              # Dovecot config + passwd-file
DVRUN="$DIR/dovecot-run"       # Dovecot base_dir (master.pid, sockets)
TLS="$DIR/tls"

# Stop a previous instance from this state dir (restart semantics).
if [ -f "$PF/main.cf" ] || [ -f "$DV/dovecot.conf" ]; then
    MH_SERVERS_DIR="$DIR" "$HERE/stop.sh" >/dev/null 2>&1 || true
fi

mkdir -p "$PF" "$PFQ" "$PFD" "$DV" "$DVRUN" "$TLS"
chown postfix: "$PFD"       # master.lock etc.; postfix check only warns about it

# ---- users -------------------------------------------------------------------------------------------
# Local system accounts (uid >= 1000, Dovecot's first_valid_uid) whose ~/Maildir both servers use. Twelve
# mailboxes, so parallel checks that lock a POP3 maildrop rarely wait for each other.
mh_users Maildir "$CLEAN"
for name in $MH_USERS; do echo "mh$name:${name}pw"; done | chpasswd

# ---- TLS: self-signed certificate (kept across restarts) ---------------------------------------------
mh_tls "$TLS" root

# ---- Postfix ----------------------------------------------------------------------------------------
if [ "$SMUGGLING_FIX" -eq 1 ]; then
    SMUGGLING_CF="smtpd_forbid_bare_newline = normalize
smtpd_forbid_bare_newline_exclusions ="
    SMUGGLING_DESC="fixed (smtpd_forbid_bare_newline = normalize, no exclusions)"
else
    SMUGGLING_CF="# smtpd_forbid_bare_newline left at Postfix 3.7's default (no): vulnerable to SMTP smuggling"
    SMUGGLING_DESC="Postfix default (smtpd_forbid_bare_newline = no)"
fi

cat > "$PF/main.cf" <<CF
# Written by ci/servers/start.sh for mailharness; regenerated on every start.
compatibility_level = 3.6
queue_directory = $PFQ
data_directory = $PFD
mail_owner = postfix
setgid_group = postdrop

myhostname = $MYHOST
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination = $DOMAIN, localhost, \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
# Postfix's default mynetworks holds 127.0.0.0/8, which would make every loopback client a trusted relay.
# A dummy TEST-NET address keeps 127.0.0.1 an ordinary, unauthenticated client.
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
# Nothing leaves this machine: mail for non-local domains (authenticated relay, bounces to foreign senders)
# is accepted and silently discarded instead of going to DNS/the network.
default_transport = discard:outbound mail is disabled in the mailharness test setup
relay_transport = discard:outbound mail is disabled in the mailharness test setup
smtp_dns_support_level = disabled

# Local delivery to the system users' ~/Maildir/, which Dovecot serves.
home_mailbox = Maildir/
alias_maps = hash:$PF/aliases
alias_database = hash:$PF/aliases
biff = no
recipient_delimiter = +

# No syslog here: log to a file through postlogd.
maillog_file_prefixes = /var, /dev/stdout, $DIR/
maillog_file = $DIR/postfix.log

# Fast negative checks: no sleep after errors, no early disconnects.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 1000

# TLS (self-signed). STARTTLS offered on 2525; AUTH only after TLS.
smtpd_tls_cert_file = $TLS/cert.pem
smtpd_tls_key_file = $TLS/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = no
smtp_tls_security_level = none

# SASL through Dovecot's auth socket (Dovecot must be up first).
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = yes
smtpd_sasl_security_options = noanonymous
broken_sasl_auth_clients = no

# SMTP smuggling: $SMUGGLING_DESC
$SMUGGLING_CF
CF

cat > "$PF/master.cf" <<CF
# Written by ci/servers/start.sh. chroot = n everywhere (Debian's chroot needs files its init script copies).
# service             type  private unpriv chroot wakeup maxproc command + args
$HOST:$SMTP_PORT      inet  n       -      n      -      -       smtpd
$HOST:$SUBMISSION_PORT inet n       -      n      -      -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
$HOST:$SMTPS_PORT     inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF

cat > "$PF/aliases" <<CF
# Written by ci/servers/start.sh: mailharness addresses -> local system users.
postmaster: mhalice
root: mhalice
MAILER-DAEMON: mhalice
$(for name in $MH_USERS; do echo "$name: mh$name"; done)
CF
# newaliases before postfix check (docs/contributing.md).
postalias -c "$PF" "hash:$PF/aliases"
# Creates the queue directories (private/ must exist before Dovecot puts its auth socket there).
postfix -c "$PF" check

# ---- Dovecot ----------------------------------------------------------------------------------------
# Postfix's smtpd_sasl_path = private/auth is relative to its queue directory.
mh_dovecot_conf "$DIR" mailharness Maildir "$POP3_PORT" "$POP3S_PORT" "service auth {
  unix_listener $PFQ/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}"

MH_LOGS=("$DIR/start.log" "$DIR/dovecot.log" "$DIR/postfix.log")
MH_STOP=(env MH_SERVERS_DIR="$DIR" "$HERE/stop.sh")

# The ports are fixed: something else listening there would be tested instead of our servers.
mh_ports_free "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" "$POP3_PORT" "$POP3S_PORT" || exit 1

# Dovecot first: Postfix's SASL needs its auth socket.
# The daemons must not inherit our stdout/stderr: a caller reading them to EOF would wait forever.
mh_dovecot_start "$DIR" || fail "dovecot failed to start"
mh_wait_ports 20 "$POP3_PORT" "$POP3S_PORT" || fail "dovecot is not listening"
for _ in $(seq 1 50); do [ -S "$PFQ/private/auth" ] && break; sleep 0.1; done
[ -S "$PFQ/private/auth" ] || fail "dovecot did not create $PFQ/private/auth"

postfix -c "$PF" start </dev/null >>"$DIR/start.log" 2>&1 || fail "postfix failed to start"
mh_wait_ports 20 "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" || fail "postfix is not listening"

# ---- target file (docs/target-file.md) -------------------------------------------------------------
{
    echo "# SMTP smuggling: $SMUGGLING_DESC"
    echo "# Real deviations of these servers' defaults, reported but not gated (tests/integration/test_real_servers.py):"
    echo "known_deviations:"
    echo "  - smtp.mail-syntax-error      # Postfix: MAIL FROM:garbage accepted (strict_rfc821_envelopes = no)"
    echo "  - smtp.reply-line-512         # Postfix: over-long VRFY argument echoed in a 561-octet reply"
    echo "  - esmtp.auth-bad-base64       # Postfix: 535 instead of 501 for undecodable SASL data"
    echo "  - pop3.capa-both-states       # Dovecot: CAPA after login drops USER and SASL"
    echo "  - pop3.user-no-argument       # Dovecot: USER without its required argument gets +OK"
    echo "  - esmtp.auth-unknown-mechanism  # Postfix: 535 instead of 504 for an unknown SASL mechanism"
    echo "  - smtp.bad-domain-syntax      # Postfix: an underscore in a sender domain is accepted"
} | mh_target_file "$DIR/target.yaml" "postfix-dovecot$( [ "$SMUGGLING_FIX" -eq 1 ] && echo "-smuggling-fix" )" \
    "Postfix $(postconf -h -c "$PF" mail_version) + Dovecot $(dovecot --version | cut -d' ' -f1)" \
    "$SMTP_PORT" "$SMTPS_PORT" "$POP3_PORT" "$POP3S_PORT"

echo "mailharness servers up: SMTP $HOST:$SMTP_PORT, submission $HOST:$SUBMISSION_PORT, SMTPS $HOST:$SMTPS_PORT, POP3 $HOST:$POP3_PORT, POP3S $HOST:$POP3S_PORT"
echo "SMTP smuggling: $SMUGGLING_DESC"
echo "$DIR/target.yaml"
