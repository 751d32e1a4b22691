#!/usr/bin/env bash
# demo.sh — `make demo`: dm-manager end to end on this machine, loopback only, no hardware.
#   1. scripts/testenv.sh: Postgres (running or private), opa and the atlas stand-in in .cache/bin.
#   2. builds the real Inventory server (inventory module's cmd/server), dm-manager and the demo driver (test/demo).
#   3. recreates two databases: dmm_demo_inventory (Inventory's) and dmm_demo (dm-manager's).
#   4. starts Inventory (policy bundle built by opa from the module's rego/, schema migrated by atlas from the
#      module's migrations) and dm-manager (embedded secrets with a generated key, AUTH DISABLED) as processes.
#   5. runs test/demo: tenant, 20 hosts, 20 simulated AMT devices activated through dm-manager, power changes.
#   6. events and metrics: when a broker answers on 127.0.0.1:1883 (scripts/testenv.sh starts Mosquitto),
#      dm-manager publishes to it (-mqttAddress) and `mosquitto_sub -v -t 'dm-manager/#'` records every event in
#      .cache/demo/mqtt.log; /metrics is saved to .cache/demo/metrics.txt and must show reconciles and WS-Man
#      latency observations.
# Exit status: the demo's (0 ok). Everything started here is stopped on exit. Work files and logs: .cache/demo/.
# Overrides: DEMO_HOSTS (20), DEMO_TIMEOUT (150s, the story itself), DM_PG_PORT (5432), DEMO_TLS (0: percentage
# of devices that enforce TLS like AMT 19+ and activate through rpc-go's TLS tunnel), DM_TEST_DB_SUFFIX,
# DEMO_AMTSIM (ccm or acm: instead of the in-process machines and the power story, the cmd/amtsim binary activates
# the fleet with the tenant's _ccm or _acm profile, a domain uploaded first for acm; issue 12's acceptance run).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bin=$repo/.cache/bin
work=$repo/.cache/demo
pg_port=${DM_PG_PORT:-5432}
hosts=${DEMO_HOSTS:-20}
story_timeout=${DEMO_TIMEOUT:-150s}
tls_enforced=${DEMO_TLS:-0}
amtsim_profile=${DEMO_AMTSIM:-}
# Short timers keep the story short: the soft power off gives up after 5s (the hung-OS host shows it), and the
# periodic full reconcile, which repairs anything an event missed, runs every 15s instead of every minute.
soft_power_timeout=5s
reconcile_period=15s
# DM_TEST_DB_SUFFIX (as for the tests) keeps the demo databases of several checkouts on one server apart.
inv_db=dmm_demo_inventory${DM_TEST_DB_SUFFIX:+_$DM_TEST_DB_SUFFIX}
dm_db=dmm_demo${DM_TEST_DB_SUFFIX:+_$DM_TEST_DB_SUFFIX}
inventory_pkg=github.com/open-edge-platform/infra-core/inventory/v2
ready_wait=60 # seconds a server may take to start

say() { printf 'demo: %s\n' "$*"; }
die() {
	printf 'demo: ERROR: %s\n' "$*" >&2
	exit 1
}

# Processes we start, in start order; stopped in reverse (dm-manager before the Inventory it talks to).
pids=()
names=()
cleanup() {
	local rc=$? i pid n
	trap - EXIT INT TERM
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[i]}
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || true
		for ((n = 0; n < 100; n++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "${names[i]} (pid $pid) did not stop within 10s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	if [[ $rc -ne 0 ]]; then
		for n in dm-manager inventory demo; do
			[[ -s $work/$n.log ]] || continue
			printf '\ndemo: last lines of %s:\n' "$work/$n.log" >&2
			tail -n 15 "$work/$n.log" >&2
		done
		printf '\ndemo: FAILED (exit %d); logs in %s\n' "$rc" "$work" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tcp_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port picks a loopback port nothing listens on, below the kernel's ephemeral range, not picked before.
picked=" "
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ $picked == *" $p "* ]] && continue
		tcp_answers "$p" && continue
		picked+="$p "
		echo "$p"
		return 0
	done
	die "no free loopback port found in 20000-31999"
}

# wait_ready waits until the process answers on port, or fails if it exits or takes longer than ready_wait.
wait_ready() {
	local name=$1 pid=$2 port=$3 log=$4 t0=$SECONDS
	until tcp_answers "$port"; do
		kill -0 "$pid" 2>/dev/null || die "$name exited while starting; see $log"
		((SECONDS - t0 < ready_wait)) || die "$name did not listen on 127.0.0.1:$port within ${ready_wait}s; see $log"
		sleep 0.2
	done
}

psql_admin() {
	(cd / && PGPASSWORD=pass psql -h 127.0.0.1 -p "$pg_port" -U admin -d postgres -w -qtAX -v ON_ERROR_STOP=1 "$@")
}

# report_events_and_metrics prints the events received per kind and the reconciler and WS-Man latency series of
# /metrics, and fails when those series are zero.
report_events_and_metrics() {
	local kinds n
	if [[ -s $work/mqtt.log ]]; then
		n=$(wc -l <"$work/mqtt.log")
		kinds=$(awk '{n = split($1, t, "/"); print t[n]}' "$work/mqtt.log" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')
		say "MQTT: $n events received: ${kinds%, }"
	fi
	curl -fsS "http://127.0.0.1:$dm_metrics/metrics" >"$work/metrics.txt" || die "cannot read dm-manager's /metrics"
	grep -E '^dm_manager_(reconciles_total|reconcile_queue_depth|power_actions_total|activations_total|inventory_writes_total|ciragw_wsman_latency_seconds_(count|sum)|events_published_total)' \
		"$work/metrics.txt" | sed 's/^/      /'
	awk '/^dm_manager_reconciles_total/ {r += $NF} /^dm_manager_ciragw_wsman_latency_seconds_count/ {w += $NF}
		END {exit !(r > 0 && w > 0)}' "$work/metrics.txt" ||
		die "/metrics shows no reconciles or no WS-Man latency observations; see $work/metrics.txt"
}

start=$SECONDS
say "preparing the environment (scripts/testenv.sh postgres tools)"
DM_PG_PORT=$pg_port scripts/testenv.sh postgres tools | sed 's/^/      /'
export PATH=$bin:$PATH

say "building the Inventory server ($inventory_pkg/cmd/server), dm-manager and the demo driver"
go build -o "$bin/inventory" "$inventory_pkg/cmd/server"
go build -o "$bin/dm-manager" ./cmd/dm-manager
go build -o "$bin/dm-demo" ./test/demo
amtsim_args=()
if [[ -n $amtsim_profile ]]; then
	go build -o "$bin/amtsim" ./cmd/amtsim
fi
build_done=$SECONDS

rm -rf "$work"
mkdir -p "$work/inventory/policy" "$work/inventory/migrations"
inv_mod=$(go list -m -f '{{.Dir}}' "$inventory_pkg")
[[ -d $inv_mod/rego && -d $inv_mod/internal/ent/migrate/migrations ]] ||
	die "the inventory module in $inv_mod lacks rego/ or internal/ent/migrate/migrations/ (go mod download?)"
cp "$inv_mod"/rego/*.rego "$work/inventory/policy/"
cp "$inv_mod"/internal/ent/migrate/migrations/*.sql "$inv_mod"/internal/ent/migrate/migrations/atlas.sum \
	"$work/inventory/migrations/"
chmod -R u+w "$work/inventory"
opa build "$work/inventory/policy" -o "$work/inventory/policy_bundle.tar.gz" >/dev/null ||
	die "opa could not build Inventory's policy bundle from $inv_mod/rego"
say "Inventory policy bundle built by opa; $(ls "$work/inventory/migrations" | grep -c '\.sql$') migrations staged for atlas"

for db in "$inv_db" "$dm_db"; do
	psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db OWNER admin" ||
		die "cannot recreate database $db on 127.0.0.1:$pg_port as admin/pass"
done
say "databases $inv_db (Inventory) and $dm_db (dm-manager) recreated"

umask 077
head -c 32 /dev/urandom | base64 >"$work/secrets.key"
umask 022

inv_port=$(free_port)
inv_oam=$(free_port)
inv_metrics=$(free_port)
dm_sb=$(free_port)
dm_cira=$(free_port)
dm_act=$(free_port)
dm_api=$(free_port)
dm_oam=$(free_port)
dm_metrics=$(free_port)

# Events: to the local broker when there is one, with a subscriber recording what dm-manager publishes.
mqtt_args=()
if tcp_answers 1883; then
	mqtt_args=(-mqttAddress 127.0.0.1:1883)
	if command -v mosquitto_sub >/dev/null; then
		mosquitto_sub -h 127.0.0.1 -p 1883 -q 1 -v -t 'dm-manager/#' >"$work/mqtt.log" 2>&1 &
		pids+=($!)
		names+=(mosquitto_sub)
		say "MQTT: dm-manager publishes to 127.0.0.1:1883; mosquitto_sub -v -t 'dm-manager/#' records to $work/mqtt.log"
	fi
else
	say "MQTT: no broker on 127.0.0.1:1883 (scripts/testenv.sh mosquitto starts one); events go to the audit trail only"
fi

say "starting Inventory on 127.0.0.1:$inv_port (atlas migrates $inv_db first)"
PGHOST=127.0.0.1 PGPORT=$pg_port PGDATABASE=$inv_db PGUSER=admin PGPASSWORD=pass PGSSLMODE=disable \
	"$bin/inventory" -serverAddress "127.0.0.1:$inv_port" -oamServerAddress "127.0.0.1:$inv_oam" \
	-enableMetrics -metricsAddress "127.0.0.1:$inv_metrics" \
	-migrationsDir "$work/inventory/migrations" -policyBundlePath "$work/inventory/policy_bundle.tar.gz" \
	-globalLogLevel warn >"$work/inventory.log" 2>&1 &
pids+=($!)
names+=(inventory)
wait_ready Inventory "${pids[-1]}" "$inv_port" "$work/inventory.log"

say "starting dm-manager: southbound 127.0.0.1:$dm_sb, CIRA 127.0.0.1:$dm_cira, activation 127.0.0.1:$dm_act," \
	"API 127.0.0.1:$dm_api"
say "  AUTHENTICATION IS DISABLED for the demo (-enableAuth=false): loopback only, never do this in a deployment"
"$bin/dm-manager" serve \
	-inventoryAddress "127.0.0.1:$inv_port" -insecureGRPC=true -enableAuth=false \
	-databaseURL "postgres://admin:pass@127.0.0.1:$pg_port/$dm_db?sslmode=disable" \
	-secretsBackend embedded -secretsKeyFile "$work/secrets.key" \
	-dmServerAddress "127.0.0.1:$dm_sb" -ciraAddress "127.0.0.1:$dm_cira" \
	-activationAddress "127.0.0.1:$dm_act" -apiAddress "127.0.0.1:$dm_api" -oamServerAddress "127.0.0.1:$dm_oam" \
	-ciraServerAddress "127.0.0.1:$dm_cira" -activationURL "ws://127.0.0.1:$dm_act/activate" \
	-softPowerTimeout "$soft_power_timeout" -reconcilePeriod "$reconcile_period" -replicaID demo \
	-enableMetrics -metricsAddress "127.0.0.1:$dm_metrics" "${mqtt_args[@]}" \
	>"$work/dm-manager.log" 2>&1 &
pids+=($!)
names+=(dm-manager)
wait_ready dm-manager "${pids[-1]}" "$dm_oam" "$work/dm-manager.log"
say "setup took $((SECONDS - start))s (builds $((build_done - start))s); the story starts"
if [[ -n $amtsim_profile ]]; then
	amtsim_args=(-amtsim "$bin/amtsim" -amtsimProfile "$amtsim_profile" -apiAddress "127.0.0.1:$dm_api")
fi

rc=0
"$bin/dm-demo" -hosts "$hosts" -tlsEnforced "$tls_enforced" -timeout "$story_timeout" -softPowerTimeout "$soft_power_timeout" \
	-inventoryAddress "127.0.0.1:$inv_port" -inventoryMetrics "http://127.0.0.1:$inv_metrics/metrics" \
	-dmServerAddress "127.0.0.1:$dm_sb" -activationURL "ws://127.0.0.1:$dm_act/activate" \
	-dmHealthAddress "127.0.0.1:$dm_oam" \
	-databaseURL "postgres://admin:pass@127.0.0.1:$pg_port/$dm_db?sslmode=disable" \
	-logFile "$work/demo.log" "${amtsim_args[@]}" || rc=$?
for i in "${!pids[@]}"; do
	kill -0 "${pids[i]}" 2>/dev/null || { say "${names[i]} exited during the demo; see $work/${names[i]}.log"; rc=1; }
done
[[ $rc -eq 0 ]] || exit "$rc"
report_events_and_metrics
say "done in $((SECONDS - start))s; logs in $work"
