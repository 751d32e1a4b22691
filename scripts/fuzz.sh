#!/usr/bin/env bash
# fuzz.sh [PKG...] — run every Fuzz target in the packages (default ./...) for FUZZTIME each (default 30s),
# one at a time.
# Targets are discovered with `go test -list '^Fuzz'`; new failing inputs land in the package's testdata/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
n=0
for pkg in $(go list "${@:-./...}"); do
	list=$(go test -list '^Fuzz' "$pkg")
	targets=$(grep '^Fuzz' <<<"$list" || true)
	for target in $targets; do
		echo "== fuzz $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
		n=$((n + 1))
	done
done
echo "== fuzz: $n targets, $fuzztime each, no failures"
