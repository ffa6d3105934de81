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
DIR="${MH_SERVERS_DIR:-/tmp/mailharness-servers}"
SMUGGLING_FIX=0
CLEAN=0
for arg in "$@"; do
    case "$arg" in
        --smuggling-fix) SMUGGLING_FIX=1 ;;
        --clean) CLEAN=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "start.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "start.sh: must run as root (creates users, binds servers that switch uid)" >&2
    exit 2
fi
for cmd in postfix postconf postalias dovecot doveadm openssl; do
    command -v "$cmd" >/dev/null || { echo "start.sh: $cmd not found; run ci/servers/install.sh" >&2; exit 2; }
done

HOST=127.0.0.1
SMTP_PORT=2525 SUBMISSION_PORT=2587 SMTPS_PORT=2465 POP3_PORT=2110 POP3S_PORT=2995
DOMAIN=example.test
MYHOST=mx.example.test

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
# Local system accounts (uid >= 1000, Dovecot's first_valid_uid is 500) whose ~/Maildir both servers use.
# Twelve mailboxes, so parallel checks that lock a POP3 maildrop rarely wait for each other.
MH_USERS="alice bob carol dave erin frank grace heidi ivan judy mallory oscar"
for name in $MH_USERS; do
    u="mh$name" pw="${name}pw"
    if ! id "$u" >/dev/null 2>&1; then
        useradd --create-home --shell /usr/sbin/nologin --comment "mailharness test user" "$u"
    fi
    echo "$u:$pw" | chpasswd
    home="$(getent passwd "$u" | cut -d: -f6)"
    mkdir -p "$home"
    chown "$u:" "$home"
    if [ "$CLEAN" -eq 1 ]; then rm -rf "$home/Maildir"; fi
done

# ---- TLS: self-signed certificate (kept across restarts) ---------------------------------------------
if [ ! -s "$TLS/cert.pem" ] || [ ! -s "$TLS/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
        -subj "/CN=$MYHOST" \
        -addext "subjectAltName=DNS:$MYHOST,DNS:localhost,IP:127.0.0.1" \
        -keyout "$TLS/key.pem" -out "$TLS/cert.pem" 2>/dev/null
fi
chmod 0600 "$TLS/key.pem"
chmod 0644 "$TLS/cert.pem"

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
# passwd-file passdb: the MH_USERS logins with {PLAIN} passwords; the user= extra field maps them
# to the system users, whose passwd entry (userdb passwd) gives uid/gid/home, so ~/Maildir is Postfix's.
for name in $MH_USERS; do echo "$name:{PLAIN}${name}pw::::::user=mh$name"; done > "$DV/users"
chown root:dovecot "$DV/users"
chmod 0640 "$DV/users"

cat > "$DV/dovecot.conf" <<CF
# Written by ci/servers/start.sh; run with: dovecot -c $DV/dovecot.conf
base_dir = $DVRUN
instance_name = mailharness
state_dir = $DVRUN/state
protocols = pop3
listen = $HOST
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
debug_log_path = $DIR/dovecot.log

ssl = yes
ssl_cert = <$TLS/cert.pem
ssl_key = <$TLS/key.pem
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = no
# Dovecot waits 2 s after a failed login by default, and its anvil penalty then delays every login from
# the same IP (2, 4, 8, 15 s); the suites fail logins on purpose, so both are off for this test server.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1000
pop3_uidl_format = %08Xu%08Xv

passdb {
  driver = passwd-file
  args = scheme=PLAIN $DV/users
}
userdb {
  driver = passwd
}

service pop3-login {
  inet_listener pop3 {
    address = $HOST
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = $HOST
    port = $POP3S_PORT
    ssl = yes
  }
}
service auth {
  # Postfix's smtpd_sasl_path = private/auth, relative to its queue directory.
  unix_listener $PFQ/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
CF

dump_logs() {
    echo "----- $DIR/dovecot.log -----" >&2; tail -n 40 "$DIR/dovecot.log" >&2 2>/dev/null || true
    echo "----- $DIR/postfix.log -----" >&2; tail -n 40 "$DIR/postfix.log" >&2 2>/dev/null || true
}

port_open() {   # bash /dev/tcp probe
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

wait_ports() {  # wait_ports SECONDS PORT...
    local deadline=$((SECONDS + $1)); shift
    local p
    for p in "$@"; do
        until port_open "$p"; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                echo "start.sh: port $HOST:$p does not accept connections" >&2
                return 1
            fi
            sleep 0.2
        done
    done
}

fail() {        # print the logs, stop whatever did start, exit 1
    echo "start.sh: $*" >&2
    dump_logs
    MH_SERVERS_DIR="$DIR" "$HERE/stop.sh" >&2 || true
    exit 1
}

# The ports are fixed: something else listening there would be tested instead of our servers.
for p in "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" "$POP3_PORT" "$POP3S_PORT"; do
    if port_open "$p"; then
        echo "start.sh: $HOST:$p is already in use (another instance, e.g. with a different MH_SERVERS_DIR?)" >&2
        exit 1
    fi
done

# Dovecot first: Postfix's SASL needs its auth socket.
# The daemons must not inherit our stdout/stderr: a caller reading them to EOF would wait forever.
dovecot -c "$DV/dovecot.conf" </dev/null >>"$DIR/start.log" 2>&1 || fail "dovecot failed to start"
wait_ports 20 "$POP3_PORT" "$POP3S_PORT" || fail "dovecot is not listening"
for _ in $(seq 1 50); do [ -S "$PFQ/private/auth" ] && break; sleep 0.1; done
[ -S "$PFQ/private/auth" ] || fail "dovecot did not create $PFQ/private/auth"

postfix -c "$PF" start </dev/null >>"$DIR/start.log" 2>&1 || fail "postfix failed to start"
wait_ports 20 "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" || fail "postfix is not listening"

# ---- target file (docs/target-file.md) -------------------------------------------------------------
cat > "$DIR/target.yaml" <<CF
# Written by ci/servers/start.sh: Postfix $(postconf -h -c "$PF" mail_version) + Dovecot $(dovecot --version | cut -d' ' -f1)
# SMTP smuggling: $SMUGGLING_DESC
name: postfix-dovecot$( [ "$SMUGGLING_FIX" -eq 1 ] && echo "-smuggling-fix" )
smtp: {host: $HOST, port: $SMTP_PORT, tls: none}
pop3: {host: $HOST, port: $POP3_PORT, tls: none}
smtps: {host: $HOST, port: $SMTPS_PORT, tls: implicit}
pop3s: {host: $HOST, port: $POP3S_PORT, tls: implicit}
domain: $DOMAIN
users:
$(for name in $MH_USERS; do echo "  - {address: $name@$DOMAIN, login: $name, password: ${name}pw}"; done)
smtp_auth: {login: alice, password: alicepw}
delivery_timeout: 10s
# Real deviations of these servers' defaults, reported but not gated (tests/integration/test_real_servers.py):
known_deviations:
  - smtp.mail-syntax-error      # Postfix: MAIL FROM:garbage accepted (strict_rfc821_envelopes = no)
  - smtp.reply-line-512         # Postfix: over-long VRFY argument echoed in a 561-octet reply
  - esmtp.auth-bad-base64       # Postfix: 535 instead of 501 for undecodable SASL data
  - pop3.capa-both-states       # Dovecot: CAPA after login drops USER and SASL
  - pop3.user-no-argument       # Dovecot: USER without its required argument gets +OK
  - esmtp.auth-unknown-mechanism  # Postfix: 535 instead of 504 for an unknown SASL mechanism
  - smtp.bad-domain-syntax      # Postfix: an underscore in a sender domain is accepted
CF

echo "mailharness servers up: SMTP $HOST:$SMTP_PORT, submission $HOST:$SUBMISSION_PORT, SMTPS $HOST:$SMTPS_PORT, POP3 $HOST:$POP3_PORT, POP3S $HOST:$POP3S_PORT"
echo "SMTP smuggling: $SMUGGLING_DESC"
echo "$DIR/target.yaml"
