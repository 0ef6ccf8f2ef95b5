#!/usr/bin/env bash
# Builds meshbench's image with podman from a prebuilt binary (see deploy/README.md).
#
#   deploy/build-image.sh [BINARY] [TAG]
#
# BINARY defaults to $CARGO_TARGET_DIR/release/meshbench (or target/release/meshbench),
# TAG to localhost/meshbench:<workspace version>. BASE_IMAGE (environment) names the base,
# localhost/debian:bookworm-slim by default; it is made with debootstrap when missing.
# The build context is a temporary directory holding only the binary, so the repository
# (node_modules, target/) is never sent to the builder.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
binary=${1:-${CARGO_TARGET_DIR:-target}/release/meshbench}
tag=${2:-localhost/meshbench:$version}
base=${BASE_IMAGE:-localhost/debian:bookworm-slim}

if [ ! -x "$binary" ]; then
  echo "no binary at $binary: build it first (scripts/frontend.sh, then cargo build --release --locked -p meshbench)" >&2
  exit 1
fi
command -v podman >/dev/null || { echo "podman is missing: apt-get install -y podman" >&2; exit 1; }

root='' context=''
trap 'rm -rf ${root:+"$root"} ${context:+"$context"}' EXIT

if ! podman image exists "$base"; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
  root=$(mktemp -d)
  echo "== making $base with debootstrap" >&2
  debootstrap --variant=minbase --include=libelf1 bookworm "$root" http://deb.debian.org/debian
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import - "$base"
fi

context=$(mktemp -d)
cp "$binary" "$context/meshbench"
echo "== podman build $tag" >&2
podman build --isolation=chroot -f deploy/Dockerfile --target prebuilt \
  --build-arg BASE_IMAGE="$base" --build-arg BINARY=meshbench \
  -t "$tag" "$context"
echo "built $tag; save it with: podman save $tag -o meshbench.tar" >&2
