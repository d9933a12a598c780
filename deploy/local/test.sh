#!/usr/bin/env bash
# The whole test suite: lint, types, layering, then unit and integration tests against a
# real Kafka broker and PostgreSQL that the test session starts (and stops) itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/bootstrap.sh

# The web UI's browser test drives Debian's headless Chromium.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing chromium and chromium-driver (the UI's browser test)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      chromium chromium-driver >/dev/null
  else
    echo "==> chromium or chromium-driver missing: the UI's browser test will be skipped" >&2
  fi
fi

echo "==> ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "==> mypy --strict (engine, model, expr)"; .venv/bin/mypy
# The layering contract names the engine packages; it applies once they exist.
if [ -d linkflow/engine ]; then echo "==> import-linter"; .venv/bin/lint-imports; fi
echo "==> deploy files (compose loader, helm lint/template, strict manifest decoding)"
deploy/check.sh
echo "==> pytest"; .venv/bin/pytest "$@"
