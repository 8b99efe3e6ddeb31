#!/usr/bin/env bash
# Build the real engines once, from their published Go modules, into a cache outside the repo:
#   scripts/build-engines.sh            build what is missing, print the bin directory on the last line
#   scripts/build-engines.sh --print    print the bin directory if it is complete, else exit 1 (builds nothing)
#
# The wrapper modules in tools/engines/go/ pin every version (go.mod + go.sum). The cache key is a hash of those
# files, the shims and this script, and the Go version, so a version bump builds into a new directory and an
# unchanged tree costs nothing. Each binary is built into a temporary name and moved into place, and the
# directory is marked complete only at the end: an interrupted build resumes where it stopped.
# SPARKSTACK_ENGINES_DIR overrides the cache root (default ~/.cache/sparkstack/engines).
set -euo pipefail
cd "$(dirname "$0")/.."
src=tools/engines/go

command -v go >/dev/null || { echo "build-engines: needs Go 1.26 on PATH (the machines have it; apt-get install golang-go is too old)" >&2; exit 2; }

key=$( { go version; cat "$0"; find "$src" tools/engines/shims -type f \( -name 'go.mod' -o -name 'go.sum' -o -name '*.go' -o -path '*/shims/*' \) | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
cache=${SPARKSTACK_ENGINES_DIR:-$HOME/.cache/sparkstack/engines}
bin=$cache/$key/bin
if [ "${1:-}" = --print ]; then
  [ -f "$bin/.complete" ] || exit 1
  echo "$bin"; exit 0
fi
if [ -f "$bin/.complete" ]; then echo "$bin"; exit 0; fi
mkdir -p "$bin"

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly -trimpath"
started=$SECONDS
step=0
total=10

# build NAME MODULE_DIR PACKAGE [go build flags...]
build() {
  local name=$1 dir=$2 pkg=$3; shift 3
  step=$((step + 1))
  if [ -x "$bin/$name" ]; then
    echo "[$step/$total] $name: built already" >&2
    return
  fi
  local t0=$SECONDS
  echo "[$step/$total] $name: go build $pkg ..." >&2
  (cd "$src/$dir" && go build "$@" -o "$bin/.$name.tmp" "$pkg")
  mv "$bin/.$name.tmp" "$bin/$name"
  echo "[$step/$total] $name: done in $((SECONDS - t0)) s ($(du -h "$bin/$name" | cut -f1))" >&2
}

# module_dir WRAPPER MODULE: where the module's source is, downloading it (checked against go.sum) if need be.
module_dir() {
  (cd "$src/$1" && go mod download -json "$2") | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}

# Version strings the programs report (pulumi's automation API checks the CLI's; Helm checks the API server's).
pulumi_version=$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2 }' "$src/pulumi/go.mod")
kube_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$src/kubernetes/go.mod")
kube_minor=$(echo "$kube_version" | cut -d. -f2)
yunikorn_version=$(awk '$1 == "github.com/apache/yunikorn-k8shim" { print $2 }' "$src/yunikorn/go.mod")
# The proxy serves the provider module only at the commit of its v4.25.0 release (see tools/engines/README.md).
provider_version=4.25.0

build pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version"

# The provider embeds a versioned copy of its schema that its own `go generate` writes next to its main; the module
# cache is read-only, so our main (tools/engines/go/provider/cmd/...) embeds copies written beside it instead.
provider_main=$src/provider/cmd/pulumi-resource-kubernetes
if [ ! -x "$bin/pulumi-resource-kubernetes" ]; then
  provider_dir=$(module_dir provider github.com/pulumi/pulumi-kubernetes/provider/v4)
  python3 - "$provider_dir/cmd/pulumi-resource-kubernetes" "$provider_main" "$provider_version" <<'PY'
import json, sys
from pathlib import Path
source, target, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
schema = json.loads((source / "schema.json").read_text())
schema["version"] = version
(target / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
mapping = json.loads((source / "terraform-mapping.json").read_text())
(target / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))
PY
fi
build pulumi-resource-kubernetes provider ./cmd/pulumi-resource-kubernetes \
  -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$provider_version"

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kube_minor \
  -X k8s.io/component-base/version.gitTreeState=clean"
build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver -ldflags "$kube_ldflags"
build kube-controller-manager kubernetes k8s.io/kubernetes/cmd/kube-controller-manager -ldflags "$kube_ldflags"
build kube-scheduler kubernetes k8s.io/kubernetes/cmd/kube-scheduler -ldflags "$kube_ldflags"
build etcd kubernetes ./etcd -ldflags "-s -w"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok -ldflags "-s -w"
build spark-operator operator github.com/kubeflow/spark-operator/v2/cmd/operator -ldflags "-s -w"
# YuniKorn's scheduler: k8shim's own main but for its REST API's address (tools/engines/go/yunikorn/scheduler).
build yunikorn-scheduler yunikorn ./scheduler -ldflags "-s -w \
  -X github.com/apache/yunikorn-k8shim/pkg/conf.buildVersion=${yunikorn_version#v} \
  -X github.com/apache/yunikorn-k8shim/pkg/conf.isPluginVersion=false"

step=$((step + 1))
cp tools/engines/shims/* "$bin/"
echo "[$step/$total] shims: $(ls tools/engines/shims | tr '\n' ' ')" >&2

# The operator's chart, as published in its module, for `sparkstack:platform.operator.chartPath`.
chart=$(module_dir operator github.com/kubeflow/spark-operator/v2)/charts/spark-operator-chart
rm -rf "$cache/$key/spark-operator-chart"
cp -r "$chart" "$cache/$key/spark-operator-chart"
chmod -R u+w "$cache/$key/spark-operator-chart"

# The scheduler's RBAC as YuniKorn publishes it beside the shim (deployments/scheduler/yunikorn-rbac.yaml), which
# tools/engines/yunikorn_host.py grants the scheduler's ServiceAccount.
cp "$(module_dir yunikorn github.com/apache/yunikorn-k8shim)/deployments/scheduler/yunikorn-rbac.yaml" "$cache/$key/"
chmod u+w "$cache/$key/yunikorn-rbac.yaml"

touch "$bin/.complete"
# Builds of other versions are of no further use (Go's own caches keep what a rebuild needs).
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
echo "engines built in $((SECONDS - started)) s, $(du -sh "$cache/$key" | cut -f1) in $cache/$key (Go's module and build caches: $(du -sh "$(go env GOMODCACHE)" 2>/dev/null | cut -f1) + $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1))" >&2
echo "$bin"
