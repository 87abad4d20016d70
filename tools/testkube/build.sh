#!/usr/bin/env bash
# Builds the test Kubernetes binary `testkube` (etcd + kube-apiserver + kube-controller-manager) from Go
# modules, once: the binary is cached under .tools/testkube/ keyed by a hash of go.mod, go.sum, *.go, the
# Go version and the build flags, and rebuilt only when one of them changes. The harness runs
# .tools/testkube/testkube (a symlink to the current build). All logging goes to stderr.
# Env: TESTKUBE_FORCE=1 rebuilds even when cached.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT_DIR=$ROOT/.tools/testkube
log() { printf '[testkube] %s\n' "$*" >&2; }

# Go lives in /usr/local/go/bin on the project's machines; a non-login shell may not have it on PATH.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH=/usr/local/go/bin:$PATH
fi
if ! command -v go >/dev/null 2>&1; then
  log "go not found on PATH: install Go >= 1.25 (the polyglot/go machines have it in /usr/local/go/bin)"
  exit 1
fi
mkdir -p "$OUT_DIR"
cd "$HERE"

K8S_VERSION=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod | head -1)
if [ -z "$K8S_VERSION" ]; then
  log "cannot read the k8s.io/kubernetes version from tools/testkube/go.mod: keep it in the require block"
  exit 1
fi
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"

hash=$( { go version; echo "$LDFLAGS -buildvcs=false"; cat go.mod go.sum; for f in $(ls ./*.go | sort); do echo "$f"; cat "$f"; done; } | sha256sum | cut -c1-16)
BIN=$OUT_DIR/testkube-$hash

# One build at a time (setup can be run from two shells); the loser waits and then finds the cache warm.
exec 9>"$OUT_DIR/.lock"
flock 9

if [ -x "$BIN" ] && [ "${TESTKUBE_FORCE:-}" != 1 ]; then
  ln -sfn "$(basename "$BIN")" "$OUT_DIR/testkube"
  log "testkube $K8S_VERSION up to date (.tools/testkube/testkube-$hash), skipping build"
  exit 0
fi

log "go mod download (k8s.io/kubernetes $K8S_VERSION and deps; a few hundred MB on a fresh machine)"
go mod download
log "building testkube $K8S_VERSION (cold: ~7-10 min and 2 GB RAM on 2 cores; 10-15 s with a warm Go build cache)"
start=$(date +%s)
tmp=$(mktemp "$OUT_DIR/.build.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# -buildvcs=false: the binary must not depend on the enclosing git checkout (same bytes in every clone).
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o "$tmp" . >&2
chmod 0755 "$tmp"
mv -f "$tmp" "$BIN"
ln -sfn "$(basename "$BIN")" "$OUT_DIR/testkube"
# Older builds only waste disk (~100 MB each).
for old in "$OUT_DIR"/testkube-*; do
  [ "$old" = "$BIN" ] || rm -f "$old"
done
log "built .tools/testkube/testkube-$hash in $(( $(date +%s) - start ))s ($(du -h "$BIN" | cut -f1))"
