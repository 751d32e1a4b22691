#!/usr/bin/env bash
# `make load`: the shipped binary, `dm-manager serve`, under a fleet of simulated AMT devices, on loopback.
# test/load/serve builds dm-manager, the real Inventory server and the fleet process (test/load/devices); runs
# Inventory and LOAD_REPLICAS `dm-manager serve` processes (more than one: behind HAProxy, several HAProxy
# processes when one's open-file limit is too low) on real Postgres; creates a project as EMF's tenant controller
# does; registers the devices with `dm-manager devices import` (CSV); starts fleet processes that activate their
# amtsim devices and dial the gateway. It measures each replica from outside (/proc/<pid>: VmRSS, utime+stime;
# its /metrics: sessions, keepalives): the ramp, RSS per session and CPU over an idle keepalive window (AMT sends
# a keepalive every 30 s), then REST → WS-Man latency: GET generalSettings (one WS-Man Get through the device's
# tunnel) from an open-loop Go client, latency counted from each request's scheduled start.
# Prints progress lines, then one `load:` line (and a `load-replica:` line per replica when there are several).
# Needs Postgres, opa, atlas and haproxy (scripts/testenv.sh). Logs stay in LOAD_DIR.
#
#   LOAD_DEVICES=10000    devices                          LOAD_REPLICAS=1       dm-manager serve processes
#   LOAD_RATE=1000        REST requests/s                  LOAD_DURATION=20s     REST phase
#   LOAD_IDLE_WINDOW=60s  keepalive CPU window             LOAD_SETTLE=5s        pause before it
#   LOAD_RAMP_RATE=2000   devices starting to dial per s   LOAD_MAX_DIALING=500  dialling but not up, at once
#   LOAD_SOURCES=4        source addresses per fleet process (fleet i uses 127.0.<i+1>.1..N)
#   LOAD_HOSTS=1          register a host per device in Inventory first, as EMF's onboarding does: every connect
#                         then reads the power state and writes the host's status, and the idle window waits for all;
#                         after it 20 hosts are turned off as a user does, during a resync, and the time until
#                         Inventory shows them OFF is reported (`load: user changes: …`)
#   LOAD_FLEET_SIZE=10000 most devices per fleet process   LOAD_LB_CONNS=9000    most connections per HAProxy
#   LOAD_TIMEOUT=15m      bound of the whole run           LOAD_DIR=.cache/load  logs, import file, binaries
#   LOAD_RAMP_TIMEOUT=5m  from the first session, how long the ramp may take before the run goes on without the rest
#   LOAD_SERVE_FLAGS / LOAD_SERVE_ENV / LOAD_FLEET_FLAGS   extra flags / environment for serve and the fleet;
#                         LOAD_SERVE_ENV defaults to GOGC=30, as the chart sets it (LOAD_SERVE_ENV= for Go's 100)
#   LOAD_PROFILE=1        serve with -enableProfiling; CPU profiles of the idle window and REST phase and a heap
#                         profile per replica in LOAD_DIR (replica-0-cpu-idle.pprof, …; go tool pprof -top FILE),
#                         and execution traces of the REST phase's first 5 s (replica-0-rest.trace, fleet-0-rest.trace;
#                         go tool trace -pprof=sched FILE > sched.pprof: where goroutines waited for a CPU)
#
# Examples: make load; LOAD_DEVICES=19000 make load; LOAD_DEVICES=50000 LOAD_REPLICAS=3 make load.
# Every process here (dm-manager, each fleet process, each HAProxy) holds a descriptor per session; the limit is
# raised to the hard limit (`ulimit -Hn`), so one replica holds at most that many sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.cache/bin:$PATH # opa and atlas from scripts/testenv.sh, as the Makefile does

devices=${LOAD_DEVICES:-10000}
replicas=${LOAD_REPLICAS:-1}
dir=${LOAD_DIR:-.cache/load}

hard=$(ulimit -Hn)
want=65536
if [[ $hard != unlimited && $hard -lt $want ]]; then want=$hard; fi
ulimit -n "$want"
per_replica=$(( (devices + replicas - 1) / replicas ))
if (( $(ulimit -n) < per_replica + 500 )); then
	echo "load.sh: open-file limit $(ulimit -n) is too low for $per_replica sessions per replica (need $((per_replica + 500))); use more LOAD_REPLICAS" >&2
	exit 1
fi
fleet=${LOAD_FLEET_SIZE:-10000}
if (( $(ulimit -n) < fleet + 500 )); then fleet=$(( $(ulimit -n) - 500 )); fi

mkdir -p "$dir"
if [[ -z ${DM_TEST_DB_SUFFIX:-} ]]; then export DM_TEST_DB_SUFFIX=load; fi
echo "load.sh: $devices devices, $replicas replica(s) of dm-manager serve; $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg)" \
	"(other work on the machine inflates every figure); open-file limit $(ulimit -n); databases dmm_load_*_${DM_TEST_DB_SUFFIX}_test"
go build -o "$dir/bin/loadserve" ./test/load/serve
start=$SECONDS
rc=0
"$dir/bin/loadserve" -n "$devices" -replicas "$replicas" -rate "${LOAD_RATE:-1000}" -duration "${LOAD_DURATION:-20s}" \
	-idleWindow "${LOAD_IDLE_WINDOW:-60s}" -settle "${LOAD_SETTLE:-5s}" -rampRate "${LOAD_RAMP_RATE:-2000}" \
	-maxDialing "${LOAD_MAX_DIALING:-500}" -sources "${LOAD_SOURCES:-4}" -hosts="$([[ ${LOAD_HOSTS:-0} == 1 ]] && echo true || echo false)" -fleetSize "$fleet" \
	-lbConns "${LOAD_LB_CONNS:-9000}" -timeout "${LOAD_TIMEOUT:-15m}" -rampTimeout "${LOAD_RAMP_TIMEOUT:-5m}" -dir "$dir" \
	-profile="$([[ ${LOAD_PROFILE:-0} == 1 ]] && echo true || echo false)" -serveFlags "${LOAD_SERVE_FLAGS:-}" -serveEnv "${LOAD_SERVE_ENV-GOGC=30}" -fleetFlags "${LOAD_FLEET_FLAGS:-}" \
	>"$dir/result.txt" || rc=$?
echo "load.sh: finished in $((SECONDS - start)) s; load avg $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$dir/result.txt"
exit "$rc"
