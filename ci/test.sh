#!/usr/bin/env bash
# The test command from the README. Servers the tests need are started by the tests themselves
# (the embedded reference server binds 127.0.0.1 on free ports).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 -m pytest -q "$@"
