#!/usr/bin/env bash
# The whole test suite: lint, types, layering, then unit and integration tests against a
# real Kafka broker and PostgreSQL that the test session starts (and stops) itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/bootstrap.sh

echo "==> ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "==> mypy --strict (engine, model, expr)"; .venv/bin/mypy
# The layering contract names the engine packages; it applies once they exist.
if [ -d linkflow/engine ]; then echo "==> import-linter"; .venv/bin/lint-imports; fi
echo "==> pytest"; .venv/bin/pytest "$@"
