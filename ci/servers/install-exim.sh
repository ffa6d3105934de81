#!/usr/bin/env bash
# Install Exim 4 (Debian's exim4-daemon-light) beside Postfix without apt-installing it: the two packages
# conflict (both provide mail-transport-agent), so the .debs are downloaded with `apt-get download` and
# unpacked with `dpkg-deb -x` into MH_EXIM_PREFIX (default /opt/mailharness-exim); the dpkg database is
# not touched. Only Exim's shared libraries are apt-installed. The binary keeps Debian's compiled-in
# user (Debian-exim, created here) and its trusted-config list (/etc/exim4/trusted_configs, which
# start-exim.sh fills). Idempotent and non-interactive. Nothing is started (see start-exim.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${MH_EXIM_PREFIX:-/opt/mailharness-exim}"
EXIM="$PREFIX/usr/sbin/exim4"

if [ "$(id -u)" -ne 0 ]; then
    echo "install-exim.sh: must run as root" >&2
    exit 2
fi

# Exim's libraries (ldd of Debian 12's exim4 4.96; the rest come with every Debian system).
bash "$HERE/../apt-install.sh" libgnutls30 libgnutls-dane0 libidn12 libpcre2-8-0 libdb5.3 libnsl2 \
    openssl dovecot-core dovecot-pop3d

if ! getent group Debian-exim >/dev/null; then
    groupadd --system Debian-exim || getent group Debian-exim >/dev/null
fi
if ! id Debian-exim >/dev/null 2>&1; then
    # adduser rejects the capital letter; useradd does not.
    useradd --system --gid Debian-exim --home-dir /var/spool/exim4 --no-create-home \
        --shell /usr/sbin/nologin Debian-exim || id Debian-exim >/dev/null
fi

if [ -x "$EXIM" ] && "$EXIM" -bV -C /dev/null >/dev/null 2>&1; then
    echo "install-exim.sh: already installed: $("$EXIM" -bV -C /dev/null 2>/dev/null | head -n 1)"
    exit 0
fi

DL="$(mktemp -d "${TMPDIR:-/tmp}/mailharness-exim-dl.XXXXXX")"
trap 'rm -rf "$DL"' EXIT
chmod 0777 "$DL"     # apt's _apt user downloads into it (otherwise a warning, and it runs as root)
(
    cd "$DL"
    if ! apt-get download exim4-base exim4-daemon-light >/dev/null 2>&1; then
        apt-get update >/dev/null
        apt-get download exim4-base exim4-daemon-light
    fi
)
rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new"
for deb in "$DL"/*.deb; do
    dpkg-deb -x "$deb" "$PREFIX.new"
done
# Swap in only a complete tree.
rm -rf "$PREFIX"
mv "$PREFIX.new" "$PREFIX"
if ldd "$EXIM" | grep -q 'not found'; then
    echo "install-exim.sh: missing libraries:" >&2
    ldd "$EXIM" | grep 'not found' >&2
    exit 1
fi
echo "install-exim.sh: installed: $("$EXIM" -bV -C /dev/null 2>/dev/null | head -n 1) in $PREFIX"
