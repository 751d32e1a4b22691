#!/usr/bin/env bash
# testenv.sh [postgres] [mosquitto] [tools] — make this machine ready for `make test` (all three by default).
# Needs only root, Go and Debian's postgresql package; idempotent; says what it does.
#   postgres:  use 127.0.0.1:$DM_PG_PORT if it answers; else start Debian's cluster on that port; else initdb and
#              start a private cluster in $DM_PG_DATA. Then create role admin/pass and database dmm if absent.
#   mosquitto: start it if 127.0.0.1:1883 is silent and the binary exists (not fatal).
#   tools:     opa v1.9.0 and the atlas stand-in into .cache/bin; writes .cache/env (`. .cache/env` puts .cache/bin
#              on PATH; the Makefile does that itself); Debian's haproxy when absent (test/cluster).
# Overrides (to rehearse a fresh machine): DM_PG_PORT (5432), DM_PG_DATA (.cache/pg), DM_TOOLS_CACHE.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bin=$repo/.cache/bin
pg_port=${DM_PG_PORT:-5432}
pg_data=${DM_PG_DATA:-$repo/.cache/pg}
say() { printf 'testenv: %s\n' "$*"; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

tcp_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pg_answers() {
	if command -v pg_isready >/dev/null; then pg_isready -q -h 127.0.0.1 -p "$pg_port"; else tcp_answers "$pg_port"; fi
}

pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n $d ]] || d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
	[[ -x $d/initdb ]] || die "no PostgreSQL server binaries found: apt-get install -y postgresql"
	echo "$d"
}

# start_debian_cluster starts a stopped Debian cluster whose port is ours; returns 1 if there is none.
start_debian_cluster() {
	local conf ver port
	command -v pg_ctlcluster >/dev/null || return 1
	for conf in /etc/postgresql/*/main/postgresql.conf; do
		[[ -f $conf ]] || continue
		ver=$(basename "$(dirname "$(dirname "$conf")")")
		port=$(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "$conf" | tail -n 1)
		[[ ${port:-5432} == "$pg_port" ]] || continue
		say "postgres: starting Debian cluster $ver/main on port $pg_port"
		pg_ctlcluster --skip-systemctl-redirect "$ver" main start
		return 0
	done
	return 1
}

# start_private_cluster runs initdb (once) and pg_ctl as an unprivileged user: initdb refuses root.
start_private_cluster() {
	local bindir user as=()
	bindir=$(pg_bindir)
	user=$(id -un)
	if [[ $EUID -eq 0 ]]; then
		user=postgres
		if ! id "$user" >/dev/null 2>&1; then
			user=dmm-pg
			if ! id "$user" >/dev/null 2>&1; then
				useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
				say "postgres: created system user $user"
			fi
		fi
		as=(runuser -u "$user" --)
		mkdir -p "$(dirname "$pg_data")"
		if ! "${as[@]}" test -x "$(dirname "$pg_data")"; then
			say "postgres: $user cannot reach $(dirname "$pg_data"); using /var/tmp/dm-manager/pg-$pg_port instead"
			pg_data=/var/tmp/dm-manager/pg-$pg_port
			mkdir -p "$(dirname "$pg_data")"
		fi
	fi
	say "postgres: nothing answers on 127.0.0.1:$pg_port and no Debian cluster uses that port"
	say "postgres: using a PRIVATE cluster in $pg_data (user $user, trust auth, 127.0.0.1:$pg_port)"
	mkdir -p "$pg_data"
	chown "$user" "$pg_data"
	chmod 700 "$pg_data"
	if [[ ! -f $pg_data/PG_VERSION ]]; then
		say "postgres: initdb $pg_data"
		(cd / && "${as[@]}" "$bindir/initdb" -D "$pg_data" --username=postgres --auth=trust --encoding=UTF8 \
			--locale=C >/dev/null)
	fi
	(cd / && "${as[@]}" "$bindir/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $pg_port -k /tmp" start >/dev/null) ||
		die "private cluster did not start; see $pg_data/server.log"
	say "postgres: private cluster started (stop: ${as[*]} $bindir/pg_ctl -D $pg_data stop)"
}

# superuser_psql sets psql to a command that reaches the server as a superuser.
superuser_psql() {
	local c
	local -a cands=(
		"psql -h 127.0.0.1 -p $pg_port -U postgres -d postgres -w"
		"runuser -u postgres -- psql -p $pg_port -d postgres -w"
		"env PGPASSWORD=pass psql -h 127.0.0.1 -p $pg_port -U admin -d postgres -w"
	)
	for c in "${cands[@]}"; do
		read -r -a psql <<<"$c"
		if (cd / && "${psql[@]}" -qtAX -c 'SELECT 1' >/dev/null 2>&1); then return 0; fi
	done
	die "cannot connect to 127.0.0.1:$pg_port as a superuser (tried postgres over TCP and socket, admin/pass)"
}

q() { (cd / && "${psql[@]}" -qtAX -v ON_ERROR_STOP=1 -c "$1"); }

setup_postgres() {
	if pg_answers; then
		say "postgres: using the server answering on 127.0.0.1:$pg_port"
	elif ! start_debian_cluster; then
		start_private_cluster
	fi
	pg_answers || die "postgres still does not answer on 127.0.0.1:$pg_port"
	superuser_psql
	if [[ $(q "SELECT 1 FROM pg_roles WHERE rolname = 'admin'") == 1 ]]; then
		say "postgres: role admin exists"
	else
		q "CREATE ROLE admin SUPERUSER LOGIN PASSWORD 'pass'"
		say "postgres: created role admin (SUPERUSER LOGIN, password pass)"
	fi
	if [[ $(q "SELECT 1 FROM pg_database WHERE datname = 'dmm'") == 1 ]]; then
		say "postgres: database dmm exists"
	else
		q "CREATE DATABASE dmm OWNER admin"
		say "postgres: created database dmm owned by admin"
	fi
	(cd / && PGPASSWORD=pass psql -h 127.0.0.1 -p "$pg_port" -U admin -d dmm -w -qtAX -c 'SELECT 1' >/dev/null) ||
		die "admin/pass cannot log in to dmm on 127.0.0.1:$pg_port; check pg_hba.conf allows password or trust"
}

setup_mosquitto() {
	if tcp_answers 1883; then
		say "mosquitto: using the broker answering on 127.0.0.1:1883"
	elif command -v mosquitto >/dev/null; then
		if [[ -f /etc/mosquitto/mosquitto.conf ]]; then
			mosquitto -d -c /etc/mosquitto/mosquitto.conf
		else
			mosquitto -d -p 1883
		fi
		say "mosquitto: started"
	else
		say "mosquitto: not installed; skipped (no dm-manager test needs it yet)"
	fi
}

# setup_haproxy installs Debian's haproxy when absent: test/cluster puts it in front of three replicas.
setup_haproxy() {
	if command -v haproxy >/dev/null; then
		say "haproxy: $(haproxy -v 2>/dev/null | head -n 1)"
		return
	fi
	say "haproxy: installing Debian's package (test/cluster's load balancer)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy >/dev/null ||
		die "could not install haproxy: apt-get install -y haproxy"
}

setup_tools() {
	mkdir -p "$bin"
	if ! scripts/install-gotool.sh opa github.com/open-policy-agent/opa@v1.9.0; then
		cp test/tools/opastandin/opa "$bin/opa"
		rm -f "$bin/.opa.version"
		say "opa: BUILD FAILED; installed the bundle-only stand-in test/tools/opastandin/opa (emf-conventions §2.1)"
	fi
	go build -o "$bin/atlas" ./test/tools/atlas
	say "atlas: stand-in built from test/tools/atlas"
	setup_haproxy
	printf 'export PATH=%q:"$PATH"\n' "$bin" >"$repo/.cache/env"
	say "tools: in $bin; for a shell: . .cache/env"
}

start=$SECONDS
steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(postgres mosquitto tools)
for step in "${steps[@]}"; do
	case $step in
	postgres) setup_postgres ;;
	mosquitto) setup_mosquitto ;;
	tools) setup_tools ;;
	*) die "unknown step $step (want postgres, mosquitto, tools)" ;;
	esac
done
say "ready in $((SECONDS - start))s"
