#!/usr/bin/env bash
# `make chaos`: the full fault suite (test/chaos with CHAOS_FULL=1): the real Inventory server and dm-manager as
# processes on Postgres, an amtsim fleet, kill -9 at every journaled power step, Postgres cut 30s by the suite's TCP
# proxy, Inventory restarted, the Vault stand-in down 30s, 20% of the devices' network cut, then kill -9 during a
# 1,000-host ON change.
# Prints the suite's `chaos:` summary line last. Log: .cache/chaos.log. `make test` runs the reduced suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/testenv.sh >/dev/null
export PATH=$PWD/.cache/bin:$PATH
export DM_TEST_DB_SUFFIX=${DM_TEST_DB_SUFFIX:-chaos}
mkdir -p .cache
rc=0
CHAOS_FULL=1 go test -count=1 -timeout "${CHAOS_TIMEOUT:-40m}" -v -run 'TestChaos' ./test/chaos/ >.cache/chaos.log 2>&1 || rc=$?
grep -E '^\s+(chaos_test|fleet_test|fleetkill_test|vault_test)\.go:[0-9]+: ' .cache/chaos.log | grep -v 'Error' || true
grep -E '^(--- |ok|FAIL)' .cache/chaos.log || true
grep -E '^chaos: ' .cache/chaos.log || echo "chaos: no summary line (failed early; see .cache/chaos.log)"
exit "$rc"
