#!/usr/bin/env bash
# Static checks (CI runs them before the tests): ruff on the code, tests and benches; mypy on assistant/.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check assistant tests bench scripts
.venv/bin/mypy
