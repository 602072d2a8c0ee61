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
echo "== waiting for $want events to be stored"
for _ in $(seq 1 150); do
	n=$($CH client -q "SELECT count() FROM $DB.events" 2>/dev/null || echo 0)
	[[ "$n" -ge "$want" ]] && break
	sleep 0.2
done
# Alerts are written in the same flush cycle as events; give the alert
# writer one more interval.
sleep 1

echo
echo "== alerts posted (console notifier; set slack.webhook_url or slack.token for Slack):"
grep -E 'level=WARN msg=ALERT|msg=alert' "$WORK/tripline.log" | head -20 || true
echo
echo "== tripline alerts --since 2026-11-24T00:00:00Z"
"$BIN" alerts --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z
echo
q='actor endsWith "user/dev-ops-kim" and outcome == "success" and not (eventName startsWith "Describe" or eventName startsWith "List" or eventName startsWith "Get")'
echo "== forensic query: what else did the compromised user change that day?"
echo "   tripline hunt --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z --source cloudtrail '$q'"
"$BIN" hunt --since 2026-11-24T00:00:00Z --until 2026-11-25T00:00:00Z --source cloudtrail "$q"
