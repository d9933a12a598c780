#!/usr/bin/env bash
# The main job: bring the local stack up, apply the topics and run the demo.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/bootstrap.sh
exec .venv/bin/linkflow demo "$@"
