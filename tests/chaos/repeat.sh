#!/usr/bin/env bash
# Runs chaos scenarios N times in a row and stops at the first failure; each run prints the
# checker's tables.   tests/chaos/repeat.sh 20 -k history
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=${1:?usage: tests/chaos/repeat.sh RUNS [pytest args...]}
shift
for i in $(seq 1 "$runs"); do
  echo "=== run $i of $runs ($(date +%T))"
  out=$(.venv/bin/pytest tests/chaos -q -s "$@" 2>&1)
  status=$?
  echo "$out" | grep -v '^%' | grep -E "^== checker|^(accepted|terminal|history|lost|duplicated|gaps|more|activity|undecodable|dead|PostgreSQL) .* +[0-9]+$| passed| failed|^ERROR"
  if [ "$status" -ne 0 ]; then echo "$out" | tail -80; echo "run $i FAILED"; exit 1; fi
done
echo "all $runs runs passed"
