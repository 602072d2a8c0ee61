#!/usr/bin/env bash
# The demo: start ClickHouse and `tripline run` on the embedded defaults,
# replay a small attack story, print the alerts it raised and a hunt query,
# then stop what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/bin/tripline
CH=deploy/clickhouse/ch.sh
WORK=$ROOT/.demo
DB=tripline_demo

started_ch=0
if ! $CH status >/dev/null 2>&1; then
	$CH start
	started_ch=1
fi
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
	fi
	if [[ $started_ch == 1 ]]; then $CH stop >/dev/null; fi
}
trap cleanup EXIT

rm -rf "$WORK" && mkdir -p "$WORK"
$CH client -q "DROP DATABASE IF EXISTS $DB"

export TRIPLINE_DATA_DIR=$WORK/data
export TRIPLINE_CLICKHOUSE_DATABASE=$DB
export TRIPLINE_HTTP_LISTEN=127.0.0.1:18080
export TRIPLINE_NATS_LISTEN=127.0.0.1:14222
export TRIPLINE_STORE_FLUSH_INTERVAL=100ms

echo "== starting tripline run (log: $WORK/tripline.log)"
"$BIN" run >"$WORK/tripline.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	curl -fsS "http://$TRIPLINE_HTTP_LISTEN/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$WORK/tripline.log"; exit 1; }
	sleep 0.2
done
curl -fsS "http://$TRIPLINE_HTTP_LISTEN/readyz"

echo "== replaying the attack story: deploy/demo/attack.ndjson"
"$BIN" replay deploy/demo/attack.ndjson

want=$(wc -l < deploy/demo/attack.ndjson)
echo "== waiting until the $want events and their alerts are stored"
last=-1
for _ in $(seq 1 150); do
	n=$($CH client -q "SELECT count() FROM $DB.events" 2>/dev/null || echo 0)
	a=$($CH client -q "SELECT count() FROM $DB.alerts" 2>/dev/null || echo 0)
	posted=$(grep -c 'msg=alert ' "$WORK/tripline.log" || true)
	if [[ "$n" -ge "$want" && "$a" -gt 0 && "$a" -eq "$posted" && "$a" -eq "$last" ]]; then break; fi
	last=$a
	sleep 0.2
done

echo
echo "== alerts as posted (no Slack configured, so to the log; set slack.webhook_url or slack.token for Slack):"
grep 'msg=alert ' "$WORK/tripline.log" | sed -E 's/.* severity=([a-z]+) rule_id=([^ ]+) .* summary="([^"]*)".*/  [\1] \2: \3/'
echo
echo "== tripline alerts --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z"
"$BIN" alerts --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z
echo
q='src_ip == "45.137.21.9" and outcome == "success"'
echo "== forensic query: everything the attacker's address did that succeeded"
echo "   tripline hunt --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z '$q'"
"$BIN" hunt --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z "$q"
