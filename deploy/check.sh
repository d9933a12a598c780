#!/usr/bin/env bash
# Static checks of the deployment files where neither Docker's compose plugin nor a
# Kubernetes cluster is at hand (CI runs this from deploy/local/test.sh):
#   - deploy/compose/docker-compose.yml loaded by the compose-spec loader (what
#     `docker compose config` runs): schema, interpolation, merge keys, references;
#   - deploy/helm/linkflow: `helm lint --strict` and `helm template` with the default
#     values and each deploy/helm/examples/*.yaml; every rendered object decoded strictly
#     into its Kubernetes API type (unknown fields and wrong types fail);
#   - a release without kafka.bootstrap must fail to render, naming the value.
# The tools are built once from the Go module proxy into $LINKFLOW_CACHE/tools (Helm
# v4.3.2 takes about two minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache="${LINKFLOW_CACHE:-$root/.linkflow/cache}"
tools="$cache/tools"
export GOPATH="$cache/go" GOCACHE="$cache/go-build" GOFLAGS=-modcacherw
mkdir -p "$tools"
HELM_VERSION=v4.3.2

if [ ! -x "$tools/helm-$HELM_VERSION" ]; then
  echo "==> building helm $HELM_VERSION (once)"
  GOBIN="$tools" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" 2> "$tools/build.log" ||
    { cat "$tools/build.log" >&2; exit 1; }
  mv "$tools/helm" "$tools/helm-$HELM_VERSION"
fi
helm="$tools/helm-$HELM_VERSION"
(cd deploy/tools && GOBIN="$tools" go install ./... 2> "$tools/build.log") ||
  { cat "$tools/build.log" >&2; exit 1; }

echo "==> compose: deploy/compose/docker-compose.yml"
"$tools/composecheck" deploy/compose/docker-compose.yml > /dev/null
echo "    ok: it loads"

chart=deploy/helm/linkflow
for values in deploy/helm/examples/*.yaml; do
  name=$(basename "$values" .yaml)
  echo "==> helm: $chart with $name values"
  "$helm" lint --strict "$chart" -f "$values" > /dev/null
  "$helm" template linkflow "$chart" -f "$values" | "$tools/manifestcheck" | sort | uniq -c |
    sed 's/^ */    /'
done

echo "==> helm: a release without kafka.bootstrap is refused"
if out=$("$helm" template linkflow "$chart" --set postgres.url=postgresql://x/y 2>&1); then
  echo "    rendered without kafka.bootstrap" >&2
  exit 1
fi
grep -q "kafka.bootstrap is required" <<< "$out" || { echo "$out" >&2; exit 1; }
echo "    ok: $(grep -o 'kafka.bootstrap is required' <<< "$out")"
