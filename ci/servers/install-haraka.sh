#!/usr/bin/env bash
# Install Haraka (npm) into MH_HARAKA_PREFIX (default /opt/mailharness-haraka) with `npm ci` from
# ci/servers/haraka/package-lock.json, so every machine gets the same Haraka and dependencies. Needs
# Node >= 20 and npm. Also apt-installs Dovecot (it serves Haraka's Maildir) and OpenSSL.
# Idempotent and non-interactive. Nothing is started (see start-haraka.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${MH_HARAKA_PREFIX:-/opt/mailharness-haraka}"
WANT="$(sed -n 's/.*"Haraka": *"\([^"]*\)".*/\1/p' "$HERE/haraka/package.json")"

if [ "$(id -u)" -eq 0 ]; then
    bash "$HERE/../apt-install.sh" openssl dovecot-core dovecot-pop3d
fi
for cmd in node npm; do
    command -v "$cmd" >/dev/null || { echo "install-haraka.sh: $cmd not found (Haraka needs Node >= 20 and npm)" >&2; exit 2; }
done
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
    echo "install-haraka.sh: Node $(node --version) is too old for Haraka $WANT (needs >= 20)" >&2
    exit 2
fi

have="$(node -p "require('$PREFIX/node_modules/Haraka/package.json').version" 2>/dev/null || true)"
if [ "$have" = "$WANT" ] && cmp -s "$HERE/haraka/package-lock.json" "$PREFIX/package-lock.json"; then
    echo "install-haraka.sh: already installed: Haraka $have in $PREFIX"
    exit 0
fi
mkdir -p "$PREFIX"
cp "$HERE/haraka/package.json" "$HERE/haraka/package-lock.json" "$PREFIX/"
# Haraka 3.3's dependencies declare Node >= 22 but run on Node 20 (checked by tests/integration).
# Optional native add-ons (modern-syslog) are not built: npm does not run their install scripts.
(cd "$PREFIX" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
echo "install-haraka.sh: installed: Haraka $(node -p "require('$PREFIX/node_modules/Haraka/package.json').version") in $PREFIX"
