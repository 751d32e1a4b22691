#!/usr/bin/env bash
# install-gotool.sh NAME MODULE/PATH@VERSION
# Puts the Go command NAME at VERSION into .cache/bin. A copy is kept in ~/.cache/dm-manager/bin so fresh clones
# on the same machine (CI clones anew) skip the build. Prints what it did; exits non-zero if it could not.
set -euo pipefail

name=$1 pkg=$2
version=${pkg##*@}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$repo/.cache/bin
shared=${DM_TOOLS_CACHE:-${HOME:-/root}/.cache/dm-manager/bin}
stamp=$bin/.$name.version
mkdir -p "$bin" "$shared"

if [[ -x $bin/$name && -f $stamp && $(cat "$stamp") == "$pkg" ]]; then
	echo "$name: $version already in .cache/bin"
	exit 0
fi
if [[ -x $shared/$name-$version ]]; then
	cp "$shared/$name-$version" "$bin/$name"
	echo "$pkg" >"$stamp"
	echo "$name: $version copied from $shared"
	exit 0
fi
echo "$name: building $pkg (first time on this machine; takes a few minutes)"
start=$SECONDS
GOBIN=$bin go install "$pkg"
cp "$bin/$name" "$shared/$name-$version"
echo "$pkg" >"$stamp"
echo "$name: built $version in $((SECONDS - start))s"
