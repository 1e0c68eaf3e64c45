#!/usr/bin/env bash
# The long end-to-end checks (marked `slow`), which the default test command leaves out.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest -m slow "$@"
