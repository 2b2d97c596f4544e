#!/usr/bin/env bash
# The test command (README): the whole suite, slow and integration tests included, on 2 workers.
set -euo pipefail
cd "$(dirname "$0")/.."
export JIEBA_CACHE_DIR="${JIEBA_CACHE_DIR:-$PWD/.jieba_cache}"
exec .venv/bin/python -m pytest -q -n 2 -p no:cacheprovider "$@"
