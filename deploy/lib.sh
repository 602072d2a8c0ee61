# Shared by deploy/demo/run.sh and deploy/bench/run.sh: start ClickHouse
# (if it is not running) and `tripline run` on a fresh data dir and
# database, and stop what was started on exit. Source it from the repo root
# after setting WORK (state directory), DB (database) and the
# TRIPLINE_HTTP_LISTEN / TRIPLINE_NATS_LISTEN addresses.

BIN=$PWD/bin/tripline
CH=deploy/clickhouse/ch.sh
started_ch=0
tripline_pid=""

stop_started() {
	if [[ -n "$tripline_pid" ]] && kill -0 "$tripline_pid" 2>/dev/null; then
		kill -TERM "$tripline_pid"
		wait "$tripline_pid" 2>/dev/null || true
	fi
	if [[ $started_ch == 1 ]]; then $CH stop >/dev/null; fi
}
trap stop_started EXIT

# http_status HOST:PORT PATH prints the HTTP status of a GET, with bash
# alone (no curl on a fresh machine).
http_status() {
	local host=${1%:*} port=${1##*:}
	exec 3<>"/dev/tcp/$host/$port" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3
	local line
	read -r line <&3 || true
	exec 3<&-
	echo "$line" | cut -d' ' -f2
}

# start_tripline: a fresh $WORK and database $DB, then `tripline run`
# (log in $WORK/tripline.log), waiting until /readyz answers 200.
start_tripline() {
	if ! $CH status >/dev/null 2>&1; then
		$CH start
		started_ch=1
	fi
	rm -rf "$WORK" && mkdir -p "$WORK"
	$CH client -q "DROP DATABASE IF EXISTS $DB"
	export TRIPLINE_DATA_DIR=$WORK/data TRIPLINE_CLICKHOUSE_DATABASE=$DB
	"$BIN" run >"$WORK/tripline.log" 2>&1 &
	tripline_pid=$!
	for _ in $(seq 1 150); do
		[[ "$(http_status "$TRIPLINE_HTTP_LISTEN" /readyz 2>/dev/null)" == 200 ]] && return 0
		kill -0 "$tripline_pid" 2>/dev/null || { cat "$WORK/tripline.log"; return 1; }
		sleep 0.2
	done
	echo "tripline did not become ready; its log:" >&2
	cat "$WORK/tripline.log" >&2
	return 1
}
