# Shared by start-exim.sh / start-haraka.sh and their stop scripts (sourced, not run). Each MTA gets its
# own state dir, its own Maildir name in the test users' homes and its own Dovecot instance (own
# base_dir, instance_name and ports), so it runs beside the Postfix + Dovecot of start.sh.
# See docs/real-servers.md.

MH_HOST=127.0.0.1
MH_DOMAIN=example.test
MH_MYHOST=mx.example.test
# The same twelve accounts start.sh creates (mh<name>, login <name>, password <name>pw).
MH_USERS="alice bob carol dave erin frank grace heidi ivan judy mallory oscar"

mh_start_args() {   # mh_start_args SCRIPT HELP_LAST_LINE INSTALLER CMD... -- "$@": sets CLEAN; root and commands present
    local script="$1" help="$2" installer="$3" cmd
    shift 3
    local cmds=()
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do cmds+=("$1"); shift; done
    shift
    CLEAN=0
    for arg in "$@"; do
        case "$arg" in
            --clean) CLEAN=1 ;;
            -h|--help) sed -n "2,${help}p" "$HERE/$script"; exit 0 ;;
            *) echo "$script: unknown argument: $arg" >&2; exit 2 ;;
        esac
    done
    if [ "$(id -u)" -ne 0 ]; then
        echo "$script: must run as root" >&2
        exit 2
    fi
    for cmd in "${cmds[@]}"; do
        command -v "$cmd" >/dev/null || { echo "$script: $cmd not found; run ci/servers/$installer" >&2; exit 2; }
    done
}

# Set by each start script: the logs fail shows, and the command that stops whatever did start.
MH_LOGS=()
MH_STOP=()

fail() {            # fail MESSAGE: print it and the last lines of each of MH_LOGS, run MH_STOP, exit 1
    local log
    echo "$(basename "$0"): $*" >&2
    for log in "${MH_LOGS[@]}"; do
        echo "----- $log -----" >&2
        tail -n 30 "$log" >&2 2>/dev/null || true
    done
    if [ "${#MH_STOP[@]}" -gt 0 ]; then "${MH_STOP[@]}" >&2 || true; fi
    exit 1
}

mh_port_open() {    # bash /dev/tcp probe
    (exec 3<>"/dev/tcp/$MH_HOST/$1") 2>/dev/null
}

mh_wait_ports() {   # mh_wait_ports SECONDS PORT...
    local deadline=$((SECONDS + $1)); shift
    local p
    for p in "$@"; do
        until mh_port_open "$p"; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                echo "$(basename "$0"): port $MH_HOST:$p does not accept connections" >&2
                return 1
            fi
            sleep 0.2
        done
    done
}

mh_wait_greeting() { # mh_wait_greeting SECONDS PORT: until a plain SMTP port answers with a 220 greeting
    local deadline=$((SECONDS + $1)) line
    until line="$(timeout 5 bash -c "exec 3<>/dev/tcp/$MH_HOST/$2 && head -n 1 <&3 && printf 'QUIT\r\n' >&3" \
                  2>/dev/null)" && [ "${line:0:4}" = "220 " ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$(basename "$0"): $MH_HOST:$2 does not greet (last: ${line:-nothing})" >&2
            return 1
        fi
        sleep 0.3
    done
}

mh_ports_free() {   # mh_ports_free PORT...: fail if one already accepts connections
    local p
    for p in "$@"; do
        if mh_port_open "$p"; then
            echo "$(basename "$0"): $MH_HOST:$p is already in use (another instance?)" >&2
            return 1
        fi
    done
}

mh_users() {        # mh_users MAILDIR_NAME CLEAN: the system accounts; CLEAN=1 empties ~/MAILDIR_NAME
    local name u home
    for name in $MH_USERS; do
        u="mh$name"
        if ! id "$u" >/dev/null 2>&1; then
            # Another start script may create it at the same moment: only a missing user is an error.
            useradd --create-home --shell /usr/sbin/nologin --comment "mailharness test user" "$u" \
                || id "$u" >/dev/null
        fi
        home="$(getent passwd "$u" | cut -d: -f6)"
        mkdir -p "$home"
        chown "$u:" "$home"
        if [ "$2" -eq 1 ]; then rm -rf "${home:?}/$1"; fi
    done
}

mh_tls() {          # mh_tls DIR GROUP: self-signed cert.pem/key.pem in DIR (kept), key readable by GROUP
    local dir="$1"
    mkdir -p "$dir"
    if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=$MH_MYHOST" \
            -addext "subjectAltName=DNS:$MH_MYHOST,DNS:localhost,IP:127.0.0.1" \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
    fi
    chown "root:$2" "$dir/key.pem" "$dir/cert.pem"
    chmod 0640 "$dir/key.pem"
    chmod 0644 "$dir/cert.pem"
}

mh_dovecot_conf() { # mh_dovecot_conf STATE_DIR INSTANCE MAILDIR_NAME POP3_PORT POP3S_PORT [EXTRA_CONFIG]
    # A standalone Dovecot that serves ~/MAILDIR_NAME of the test users. passwd-file passdb: the MH_USERS
    # logins with {PLAIN} passwords; the user= extra field maps them to the system users, whose passwd
    # entry (userdb passwd) gives uid/gid/home, so ~/MAILDIR_NAME is the one the MTA delivers to.
    local dir="$1" dv="$1/dovecot" run="$1/dovecot-run" name
    mkdir -p "$dv" "$run"
    for name in $MH_USERS; do echo "$name:{PLAIN}${name}pw::::::user=mh$name"; done > "$dv/users"
    chown root:dovecot "$dv/users"
    chmod 0640 "$dv/users"
    cat > "$dv/dovecot.conf" <<CF
# Written by ci/servers/$(basename "$0"); run with: dovecot -c $dv/dovecot.conf
base_dir = $run
instance_name = $2
state_dir = $run/state
protocols = pop3
listen = $MH_HOST
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
debug_log_path = $dir/dovecot.log

ssl = yes
ssl_cert = <$dir/tls/cert.pem
ssl_key = <$dir/tls/key.pem
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = no
# Dovecot waits 2 s after a failed login by default, and its anvil penalty then delays every login from
# the same IP (2, 4, 8, 15 s); the suites fail logins on purpose, so both are off for these test servers.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
auth_mechanisms = plain login
mail_location = maildir:~/$3
first_valid_uid = 1000
pop3_uidl_format = %08Xu%08Xv

passdb {
  driver = passwd-file
  args = scheme=PLAIN $dv/users
}
userdb {
  driver = passwd
}

service pop3-login {
  inet_listener pop3 {
    address = $MH_HOST
    port = $4
  }
  inet_listener pop3s {
    address = $MH_HOST
    port = $5
    ssl = yes
  }
}
${6:-}
CF
}

mh_dovecot_start() { # mh_dovecot_start STATE_DIR
    dovecot -c "$1/dovecot/dovecot.conf" </dev/null >>"$1/start.log" 2>&1
}

mh_wait_gone() {    # mh_wait_gone PID SECONDS (a zombie counts as gone: PID 1 here does not reap)
    local i
    for i in $(seq 1 $(( $2 * 10 ))); do
        kill -0 "$1" 2>/dev/null || return 0
        [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = "Z" ] && return 0
        sleep 0.1
    done
    return 1
}

mh_term_wait() {    # mh_term_wait PID NAME [STOP_CMD...]: STOP_CMD (default SIGTERM), SIGKILL after 10 s
    local pid="$1" name="$2"
    shift 2
    if [ "$#" -gt 0 ]; then "$@" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    else kill -TERM "$pid" 2>/dev/null || true; fi
    if ! mh_wait_gone "$pid" 10; then
        echo "$(basename "$0"): $name ($pid) still running; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "$(basename "$0"): $name stopped"
}

mh_stop_pidfile() { # mh_stop_pidfile PIDFILE NAME CMDLINE_PART: SIGTERM the PID in the file, SIGKILL after 10 s
    # Only if that process's command line contains CMDLINE_PART (a stale pid file may name a reused PID).
    local pid
    if [ ! -f "$1" ]; then echo "$(basename "$0"): $2 not running"; return 0; fi
    pid="$(tr -dc 0-9 < "$1")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
            && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != "Z" ] \
            && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$3"; then
        mh_term_wait "$pid" "$2"
    else
        echo "$(basename "$0"): $2 not running"
    fi
    rm -f "$1"
}

mh_dovecot_stop() { # mh_dovecot_stop STATE_DIR
    local conf="$1/dovecot/dovecot.conf" pidf="$1/dovecot-run/master.pid" pid
    if [ -f "$pidf" ]; then
        pid="$(tr -dc 0-9 < "$pidf")"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            mh_term_wait "$pid" dovecot doveadm -c "$conf" stop
        else
            echo "$(basename "$0"): dovecot not running"
        fi
        rm -f "$pidf"
    else
        echo "$(basename "$0"): dovecot not running"
    fi
}

mh_target_file() {  # mh_target_file FILE NAME DESCRIPTION SMTP_PORT SMTPS_PORT POP3_PORT POP3S_PORT < EXTRA_LINES
    # The target file (docs/target-file.md) for one MTA + Dovecot pair; lines on stdin are appended.
    local name
    {
        echo "# Written by ci/servers/$(basename "$0"): $3"
        echo "name: $2"
        echo "smtp: {host: $MH_HOST, port: $4, tls: none}"
        echo "pop3: {host: $MH_HOST, port: $6, tls: none}"
        echo "smtps: {host: $MH_HOST, port: $5, tls: implicit}"
        echo "pop3s: {host: $MH_HOST, port: $7, tls: implicit}"
        echo "domain: $MH_DOMAIN"
        echo "users:"
        for name in $MH_USERS; do echo "  - {address: $name@$MH_DOMAIN, login: $name, password: ${name}pw}"; done
        echo "smtp_auth: {login: alice, password: alicepw}"
        echo "delivery_timeout: 10s"
        cat
    } > "$1"
}
