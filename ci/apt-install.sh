#!/usr/bin/env bash
# Install the given Debian packages if any is missing: one `apt-get update`, non-interactive, idempotent.
# Callers pre-answer debconf questions first. Never `playwright install` for chromium: it downloads a browser.
set -euo pipefail
missing=()
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "apt-install.sh: already installed: $*"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "apt-install.sh: must run as root to install: ${missing[*]}" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "apt-install.sh: installed: ${missing[*]}"
