#!/usr/bin/env bash
# tshark, to decode the pcaps `mailharness run --pcap` writes (tests/hostile/test_capture.py).
set -euo pipefail
if command -v tshark >/dev/null 2>&1; then
    echo "install-tools.sh: $(tshark --version 2>/dev/null | head -1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-tools.sh: tshark missing and not root" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# Do not make dumpcap setuid for a group: captures here run as root.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update
apt-get install -y --no-install-recommends tshark
