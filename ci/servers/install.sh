#!/usr/bin/env bash
# Install the real servers mailharness can be pointed at: Postfix (SMTP), Dovecot (POP3), OpenSSL.
# Idempotent and non-interactive; safe to re-run. Nothing is started here (see start.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" -eq 0 ]; then
    # Pre-answer Postfix's configuration question: start.sh writes its own main.cf.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "postfix postfix/mailname string example.test" | debconf-set-selections
fi
exec bash "$HERE/../apt-install.sh" postfix dovecot-core dovecot-pop3d openssl "$@"
