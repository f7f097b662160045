#!/usr/bin/env bash
# Builds the control plane the Kubernetes tests run against from Kubernetes' own Go sources:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler (this module) and kwok
# (./kwok), at the versions pinned in the go.mod/go.sum files here.
#
# The binaries go to a cache outside the repository, in a folder named after a hash of those
# files and of this script, so a fresh clone finds them and a second run is a no-op. Prints
# that bin folder. Needs `go` (1.26) and the Go module proxy. Tests find the same folder with
# tests/kube/controlplane.py:binaries_dir().
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" "$here/kwok/go.mod" "$here/kwok/go.sum" "$here/build.sh" |
	sha256sum | cut -c1-16)
root=${TRAINYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trainyard}
bin="$root/controlplane-$key/bin"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

complete() {
	for name in "${binaries[@]}"; do [ -x "$bin/$name" ] || return 1; done
}

if complete; then
	echo "$bin"
	exit 0
fi
command -v go >/dev/null || {
	echo "build.sh: 'go' (1.26) is not on PATH; it builds the test control plane" >&2
	exit 1
}

mkdir -p "$root"
staging=$(mktemp -d "$root/.build-$key.XXXXXX")
trap 'rm -rf "$staging"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false -trimpath"
began=$(date +%s)

cd "$here"
kube=$(go list -m -f '{{.Version}}' k8s.io/kubernetes) # v1.36.3
minor=$(echo "$kube" | cut -d. -f2)
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	version_flags+=" -X $pkg.gitVersion=$kube -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	version_flags+=" -X $pkg.gitTreeState=clean"
done
echo "build.sh: building etcd and Kubernetes $kube (first time: several minutes)" >&2
go build -ldflags "-s -w $version_flags" -o "$staging/" \
	go.etcd.io/etcd/server/v3 \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler
mv "$staging/server" "$staging/etcd" # the etcd module's main package is its root, "server"

cd "$here/kwok"
echo "build.sh: building kwok $(go list -m -f '{{.Version}}' sigs.k8s.io/kwok)" >&2
go build -ldflags "-s -w" -o "$staging/kwok" sigs.k8s.io/kwok/cmd/kwok

# One rename: another build racing this one leaves either its folder or this one, never half.
mkdir -p "$(dirname "$bin")"
if ! mv -T "$staging" "$bin" 2>/dev/null; then
	complete || {
		echo "build.sh: could not move the binaries to $bin" >&2
		exit 1
	}
	rm -rf "$staging"
fi
trap - EXIT
echo "build.sh: built in $(($(date +%s) - began))s" >&2
echo "$bin"
