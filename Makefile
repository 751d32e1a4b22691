# dm-manager. `make test` is what CI runs (.ci/run); it first prepares Postgres, opa and atlas (scripts/testenv.sh).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

export PATH := $(CURDIR)/.cache/bin:$(PATH)

FUZZTIME ?= 30s
BENCHTIME ?= 1s
TEST_TIMEOUT ?= 20m
PKGS ?= ./...
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.PHONY: tools build test lint bench load load-gateway demo demo-amt19 fuzz chaos cluster bench-forward

tools:
	scripts/testenv.sh

build:
	go build ./...
	mkdir -p bin
	go build -o bin/ ./cmd/...
	@echo "build: binaries in bin/: $$(cd bin && ls | tr '\n' ' ')"

# PKGS narrows the run (make test PKGS=./ciragw/...).
# -p 1: packages using test/invtest share Inventory's `postgres` database (they also serialise on a file lock).
# -p 1 also serialises building the test binaries, so they are built first on every core (-exec /bin/true runs
# none of them); a build error shows in the run that follows.
test: tools
	@mkdir -p .cache
	@start=$$SECONDS; rc=0; \
	go test -race -count=1 -exec /bin/true $(PKGS) >/dev/null 2>&1 || true; \
	go test -race -p 1 -count=1 -timeout $(TEST_TIMEOUT) $(PKGS) 2>&1 | tee .cache/test.log || rc=$$?; \
	ok=$$(grep -c '^ok ' .cache/test.log || true); \
	fpkgs=$$(grep -E '^FAIL[[:space:]]+[^[:space:]]+' .cache/test.log | awk '{print $$2}' | sort -u || true); \
	none=$$(grep -c 'no test files' .cache/test.log || true); \
	echo "== test summary: $$ok packages ok, $$(echo -n "$$fpkgs" | grep -c . || true) packages failed," \
		"$$none without tests, $$((SECONDS - start))s (full log: .cache/test.log)"; \
	if [[ -n $$fpkgs ]]; then echo "== failed packages:"; echo "$$fpkgs" | sed 's/^/   /'; fi; \
	exit $$rc

lint:
	scripts/install-gotool.sh golangci-lint $(GOLANGCI_LINT)
	golangci-lint run ./...

bench:
	go test -p 1 -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# `dm-manager serve` under LOAD_DEVICES simulated devices (scripts/load.sh lists the LOAD_* knobs).
load: tools
	scripts/load.sh

# The CIRA gateway library alone in a harness process (test/load/gateway), no database: a benchmark of ciragw.
load-gateway:
	scripts/load-gateway.sh

# Cluster e2e at full size: three `dm-manager serve` behind HAProxy, real Inventory, CLUSTER_DEVICES amtsim devices
# (make test runs the same test with 60). Prints the ramp, takeover, reconnect and drain times it measures.
CLUSTER_DEVICES ?= 300
cluster: tools
	@mkdir -p .cache
	DM_CLUSTER_DEVICES=$(CLUSTER_DEVICES) go test -count=1 -v -timeout 30m -run TestCluster ./test/cluster 2>&1 | \
		tee .cache/cluster.log | grep -E '^ +[a-z_]+_test\.go:[0-9]+: [^{]|^(=== RUN|--- |ok|FAIL|PASS)'

# WS-Man latency over a real gateway: local vs forwarded through another replica's API (p50/p99 per exchange).
bench-forward: tools
	go test -count=1 -run '^$$' -bench WSManLatency -benchtime 2000x ./internal/devices

demo: tools
	scripts/demo.sh

# Issue 12's acceptance run: the cmd/amtsim binary activates 20 devices against `dm-manager serve` with the
# tenant's _acm and _ccm profiles, all and half of them TLS-enforcing (AMT 19+); see DEMO_AMTSIM in the README.
demo-amt19: tools
	for p in acm ccm; do for tls in 100 50; do DEMO_AMTSIM=$$p DEMO_TLS=$$tls scripts/demo.sh || exit 1; done; done

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(PKGS)

# The full fault suite (test/chaos, CHAOS_FULL=1); `make test` runs its reduced form.
chaos:
	scripts/chaos.sh
