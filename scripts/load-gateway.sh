#!/usr/bin/env bash
# `make load-gateway`: the CIRA gateway library (test/load/gateway, a harness process, not the shipped binary) and a fleet of simulated AMT devices as two processes on loopback.
# The device process activates LOAD_DEVICES amtsim devices in-process and dials the gateway at LOAD_RAMP_RATE/s
# from LOAD_SOURCES source addresses; the gateway process (test/load/gateway) measures the ramp, its RSS per
# session, its CPU over an idle keepalive window, then WS-Man PowerState latency through CIRA at LOAD_RATE/s.
# Prints a few human lines, then exactly one `load:` line. Bounded by LOAD_TIMEOUT (default 300 s).
#
#   LOAD_DEVICES=10000 LOAD_RATE=200 LOAD_DURATION=20s LOAD_KEEPALIVE=30s LOAD_IDLE_WINDOW=60s
#   LOAD_RAMP_RATE=1000 LOAD_MAX_DIALING=500 (0: no cap) LOAD_SOURCES=4 LOAD_PROFILE=0 (1: pprof files in LOAD_DIR)
#   LOAD_DIR=.cache/load; LOAD_GATEWAY_FLAGS / LOAD_DEVICE_FLAGS pass extra flags (e.g. -debug 127.0.0.1:6060).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- load section --------------------------------------------------------------------------------------------
devices=${LOAD_DEVICES:-10000}
rate=${LOAD_RATE:-200}
duration=${LOAD_DURATION:-20s}
keepalive=${LOAD_KEEPALIVE:-30s}
idle=${LOAD_IDLE_WINDOW:-60s}
ramp_rate=${LOAD_RAMP_RATE:-1000}
max_dialing=${LOAD_MAX_DIALING:-500}
sources=${LOAD_SOURCES:-4}
timeout_s=${LOAD_TIMEOUT:-300}
dir=${LOAD_DIR:-.cache/load}

mkdir -p "$dir/bin"
rm -f "$dir/ca.pem" "$dir/addr" "$dir/gateway.out" "$dir/devices.log" "$dir/wsman.tsv" "$dir"/*.pprof
go build -o "$dir/bin/" ./test/load/gateway ./test/load/devices

# Each process holds one descriptor per device; ask for 65536, settle for the hard limit.
want=65536
hard=$(ulimit -Hn)
if [[ $hard != unlimited && $hard -lt $want ]]; then want=$hard; fi
ulimit -n "$want"
if (( $(ulimit -n) < devices + 1024 )); then
	echo "load.sh: open-file limit $(ulimit -n) is too low for $devices devices (need $((devices + 1024)))" >&2
	exit 1
fi

gw_pid='' dev_pid=''
cleanup() {
	for pid in $dev_pid $gw_pid; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $dev_pid $gw_pid; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

profile=()
if [[ ${LOAD_PROFILE:-0} == 1 ]]; then profile=(-profileDir "$dir"); fi

start=$SECONDS
echo "load.sh: $devices devices, ramp $ramp_rate/s (at most $max_dialing dialling) from $sources source addresses, keepalive $keepalive," \
	"idle window $idle, WS-Man $rate/s for $duration; $(nproc) cores, load avg $(cut -d' ' -f1-3 /proc/loadavg)"
"$dir/bin/gateway" -addr 127.0.0.1:0 -n "$devices" -rate "$rate" -duration "$duration" -keepalive "$keepalive" \
	-idleWindow "$idle" -caFile "$dir/ca.pem" -addrFile "$dir/addr" -latencyFile "$dir/wsman.tsv" "${profile[@]}" ${LOAD_GATEWAY_FLAGS:-} 2>&1 >"$dir/gateway.out" &
gw_pid=$!

for _ in $(seq 600); do
	[[ -s $dir/addr ]] && break
	kill -0 "$gw_pid" 2>/dev/null || { echo "load.sh: gateway exited before listening" >&2; exit 1; }
	sleep 0.1
done
[[ -s $dir/addr ]] || { echo "load.sh: gateway did not start listening within 60 s" >&2; exit 1; }

# The device process simulates 10,000 AMTs in one heap; collecting it less often keeps its GC pauses out of the
# WS-Man latency, which should measure the gateway (real devices each have their own firmware).
GOGC=${LOAD_DEVICE_GOGC:-400} "$dir/bin/devices" -n "$devices" -gateway "$(cat "$dir/addr")" -caFile "$dir/ca.pem" -rampRate "$ramp_rate" \
	-maxDialing "$max_dialing" -sources "$sources" ${LOAD_DEVICE_FLAGS:-} 2>"$dir/devices.log" &
dev_pid=$!

shown=''
# The gateway exits once it has measured everything; the device process runs until killed.
while kill -0 "$gw_pid" 2>/dev/null; do
	if (( SECONDS - start > timeout_s )); then
		echo "load.sh: no result within ${timeout_s} s; stopping (device log: $dir/devices.log)" >&2
		exit 1
	fi
	if ! kill -0 "$dev_pid" 2>/dev/null; then
		echo "load.sh: device process failed:" >&2
		tail -5 "$dir/devices.log" >&2
		exit 1
	fi
	if [[ -z $shown ]] && grep -m1 'activated' "$dir/devices.log" 2>/dev/null; then shown=1; fi
	sleep 0.5
done
rc=0
wait "$gw_pid" || rc=$?
gw_pid=''
if [[ $rc -ne 0 ]] || ! grep -q '^load: ' "$dir/gateway.out"; then
	echo "load.sh: gateway failed (exit $rc)" >&2
	exit 1
fi
grep -m1 'tunnels up; device process cpu' "$dir/devices.log" || true
echo "load.sh: finished in $((SECONDS - start)) s; load avg $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 '^load: ' "$dir/gateway.out"
