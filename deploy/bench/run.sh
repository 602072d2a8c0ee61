#!/usr/bin/env bash
# The end-to-end benchmark: start `tripline run` on a fresh data dir and
# database, push realistic CloudTrail through it at full speed, then at a
# fixed rate for latency, and print what `tripline bench` measured.
#
#   BENCH_RATE       offered events/s of the sustained run (default 20000)
#   BENCH_DURATION   length of the sustained run (default 60s)
#   PEAK_DURATION    length of the as-fast-as-possible run (default 30s)
#   LATENCY_RATE     events/s of the latency run (default 5000)
#   LATENCY_DURATION length of the latency run (default 30s)
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=$PWD/.bench
DB=tripline_bench
export TRIPLINE_HTTP_LISTEN=127.0.0.1:18081
export TRIPLINE_NATS_LISTEN=127.0.0.1:14223
export TRIPLINE_LOG_LEVEL=warn
source deploy/lib.sh
start_tripline

echo "== machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== sustained: ${BENCH_RATE:-20000} events/s offered for ${BENCH_DURATION:-60s}"
"$BIN" bench --duration "${BENCH_DURATION:-60s}" --rate "${BENCH_RATE:-20000}" --batch 500 --concurrency 4
echo
echo "== peak: as fast as the pipeline accepts for ${PEAK_DURATION:-30s}"
"$BIN" bench --duration "${PEAK_DURATION:-30s}" --batch 500 --concurrency 4
echo
echo "== latency: ${LATENCY_RATE:-5000} events/s for ${LATENCY_DURATION:-30s}, 50 events per request"
"$BIN" bench --duration "${LATENCY_DURATION:-30s}" --rate "${LATENCY_RATE:-5000}" --batch 50 --concurrency 8 --attack-every 100
