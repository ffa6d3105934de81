#!/usr/bin/env bash
# Install the real servers mailharness can be pointed at: Postfix (SMTP), Dovecot (POP3), OpenSSL.
# Idempotent and non-interactive; safe to re-run. Nothing is started here (see start.sh).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: must run as root" >&2
    exit 2
fi

PKGS=(postfix dovecot-core dovecot-pop3d openssl)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install.sh: already installed: ${PKGS[*]}"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Pre-answer Postfix's configuration question: start.sh writes its own main.cf.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string example.test" | debconf-set-selections

apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "install.sh: installed: ${missing[*]}"
