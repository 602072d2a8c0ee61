#!/usr/bin/env bash
# ch.sh: run a local ClickHouse server for Tripline's tests and `tripline run`.
#
#   deploy/clickhouse/ch.sh start            install (apt) if missing, start, wait until it answers
#   deploy/clickhouse/ch.sh stop             stop the server started from $CH_DIR, wait until gone
#   deploy/clickhouse/ch.sh status           exit 0 if it answers queries, 1 if not
#   deploy/clickhouse/ch.sh client [args]    clickhouse-client against it (e.g. -q 'SELECT 1')
#
# The server's whole state (config, data, logs, pid file) lives in $CH_DIR.
#
# Environment:
#   CH_DIR                 state directory          (default: <repo root>/.clickhouse)
#   CH_TCP_PORT            native protocol port     (default: 9000)
#   CH_HTTP_PORT           HTTP port                (default: 8123)
#   CH_START_TIMEOUT       seconds to wait on start (default: 60)
#   CH_MAX_SERVER_MEMORY   server-wide cap in bytes, releases after 18.16 only (default: 4 GiB)
#   CH_MAX_QUERY_MEMORY    per-query cap in bytes   (default: 2 GiB)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CH_DIR="${CH_DIR:-$ROOT/.clickhouse}"
TCP_PORT="${CH_TCP_PORT:-9000}"
HTTP_PORT="${CH_HTTP_PORT:-8123}"
START_TIMEOUT="${CH_START_TIMEOUT:-60}"
MAX_SERVER_MEMORY="${CH_MAX_SERVER_MEMORY:-4294967296}"
MAX_QUERY_MEMORY="${CH_MAX_QUERY_MEMORY:-2147483648}"

die() { echo "ch.sh: $*" >&2; exit 1; }
say() { echo "ch.sh: $*"; }

for v in TCP_PORT HTTP_PORT START_TIMEOUT MAX_SERVER_MEMORY MAX_QUERY_MEMORY; do
	[[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
for v in TCP_PORT HTTP_PORT; do
	((${!v} >= 1 && ${!v} <= 65535)) || die "CH_$v must be a port number (1-65535), got ${!v}"
done
[[ "$TCP_PORT" != "$HTTP_PORT" ]] || die "CH_TCP_PORT and CH_HTTP_PORT must differ"
case "$CH_DIR" in
*[\<\>\&\"\']*) die "CH_DIR must not contain XML special characters: $CH_DIR" ;;
/*) ;;
*) CH_DIR="$PWD/$CH_DIR" ;;
esac
PID_FILE="$CH_DIR/clickhouse-server.pid"
CONFIG="$CH_DIR/config.xml"

# find_bin NAME: the path of NAME on PATH or in the sbin directories
# (a non-root PATH often lacks /usr/sbin, where Debian puts the server).
find_bin() {
	command -v "$1" 2>/dev/null && return 0
	local d
	for d in /usr/sbin /usr/local/sbin /usr/bin /usr/local/bin; do
		[[ -x "$d/$1" ]] && { echo "$d/$1"; return 0; }
	done
	return 1
}

install_clickhouse() {
	say "clickhouse-server or clickhouse-client not found; installing the Debian packages"
	local sudo=()
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null || die "not root and no sudo: install clickhouse-server and clickhouse-client yourself"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server clickhouse-client
}

server_bin() { find_bin clickhouse-server || die "clickhouse-server not installed (run: $0 start)"; }
client_bin() { find_bin clickhouse-client || die "clickhouse-client not installed (run: $0 start)"; }

# alive PID: the process exists and is not a zombie.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local state
	state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
	[[ "$state" != Z ]]
}

# our_pid prints the pid of the server running from $CH_DIR, if any. It checks
# the command line so a stale pid file whose pid was reused does not count.
our_pid() {
	[[ -f "$PID_FILE" ]] || return 1
	local pid
	pid="$(tr -dc '0-9' <"$PID_FILE")"
	[[ -n "$pid" ]] && alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONFIG" || return 1
	echo "$pid"
}

answering() {
	timeout 10 "$(client_bin)" --host 127.0.0.1 --port "$TCP_PORT" -q 'SELECT 1' >/dev/null 2>&1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log_tail() {
	local f
	for f in "$CH_DIR/log/clickhouse-server.err.log" "$CH_DIR/log/stdout.log"; do
		[[ -s "$f" ]] || continue
		echo "--- tail of $f" >&2
		grep -v '^[0-9]*\. ' "$f" | tail -n 20 >&2 || true
	done
}

# render TEMPLATE OUT: replace @NAME@ placeholders.
render() {
	local dir="${CH_DIR//\\/\\\\}"
	dir="${dir//|/\\|}"
	dir="${dir//&/\\&}"
	sed -e "s|@CH_DIR@|$dir|g" \
		-e "s|@TCP_PORT@|$TCP_PORT|g" \
		-e "s|@HTTP_PORT@|$HTTP_PORT|g" \
		-e "s|@MAX_SERVER_MEMORY@|$MAX_SERVER_MEMORY|g" \
		-e "s|@MAX_QUERY_MEMORY@|$MAX_QUERY_MEMORY|g" \
		"$1" >"$2.tmp"
	mv "$2.tmp" "$2"
}

wait_answering() {
	local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
	while ((SECONDS < deadline)); do
		if answering; then
			return 0
		fi
		if ! alive "$pid"; then
			echo "ch.sh: clickhouse-server (pid $pid) exited during startup" >&2
			return 1
		fi
		sleep 0.5
	done
	echo "ch.sh: clickhouse-server (pid $pid) did not answer on 127.0.0.1:$TCP_PORT within ${START_TIMEOUT}s" >&2
	return 1
}

cmd_start() {
	if ! find_bin clickhouse-server >/dev/null || ! find_bin clickhouse-client >/dev/null; then
		install_clickhouse
	fi
	local server pid
	server="$(server_bin)"
	if pid="$(our_pid)"; then
		if wait_answering "$pid"; then
			say "already running (pid $pid, 127.0.0.1:$TCP_PORT, state in $CH_DIR)"
			return 0
		fi
		log_tail
		die "server from $CH_DIR (pid $pid) runs but does not answer; try: $0 stop && $0 start"
	fi
	local p
	for p in "$TCP_PORT" "$HTTP_PORT"; do
		if port_open "$p"; then
			die "127.0.0.1:$p is already in use by another process (the distro's clickhouse-server service? stop it with 'systemctl stop clickhouse-server'), or choose other ports with CH_TCP_PORT/CH_HTTP_PORT"
		fi
	done

	mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,log}
	render "$HERE/config.xml.in" "$CONFIG"
	render "$HERE/users.xml.in" "$CH_DIR/users.xml"
	rm -f "$PID_FILE"

	say "starting clickhouse-server on 127.0.0.1:$TCP_PORT (state in $CH_DIR)"
	# --daemon forks and detaches; the server removes its pid file on a clean exit.
	if ! "$server" --daemon --pid-file="$PID_FILE" --config-file="$CONFIG" \
		>>"$CH_DIR/log/stdout.log" 2>&1; then
		log_tail
		die "clickhouse-server failed to start"
	fi
	local deadline=$((SECONDS + 10))
	until pid="$(our_pid)"; do
		if ((SECONDS >= deadline)); then
			log_tail
			die "clickhouse-server did not write its pid file $PID_FILE"
		fi
		sleep 0.2
	done
	if ! wait_answering "$pid"; then
		log_tail
		cmd_stop >&2 # leave no half-started server behind
		exit 1
	fi
	say "running (pid $pid, $("$(client_bin)" --host 127.0.0.1 --port "$TCP_PORT" -q 'SELECT version()'))"
}

cmd_stop() {
	local pid
	if ! pid="$(our_pid)"; then
		rm -f "$PID_FILE"
		say "not running (state in $CH_DIR)"
		return 0
	fi
	say "stopping clickhouse-server (pid $pid)"
	kill -TERM "$pid"
	local deadline=$((SECONDS + 60))
	while alive "$pid"; do
		if ((SECONDS >= deadline)); then
			echo "ch.sh: pid $pid still running after 60s; sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 1
			break
		fi
		sleep 0.2
	done
	rm -f "$PID_FILE"
	say "stopped"
}

cmd_status() {
	local pid
	if answering; then
		if pid="$(our_pid)"; then
			say "running (pid $pid, 127.0.0.1:$TCP_PORT, state in $CH_DIR)"
		else
			say "a ClickHouse server answers on 127.0.0.1:$TCP_PORT, but not one started from $CH_DIR"
		fi
		return 0
	fi
	say "not answering on 127.0.0.1:$TCP_PORT"
	return 1
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
client)
	shift
	exec "$(client_bin)" --host 127.0.0.1 --port "$TCP_PORT" "$@"
	;;
*)
	echo "usage: $0 start|stop|status|client [clickhouse-client args]" >&2
	exit 2
	;;
esac
