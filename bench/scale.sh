#!/usr/bin/env bash
# Scale rows for a fan-out server: `BIN -b ws-l:127.0.0.1:PORT broadcast:mirror:` holding N
# WebSocket connections, measured by the compiled load generator (bench/connrate --hold N).
#
# Usage: bench/scale.sh --ours PATH [--baseline PATH] [--counts "1000 5000 19000"]
#
# For each N and each binary (ours, then the baseline) it starts a fresh server, holds N
# connections and prints one markdown row: server RSS growth per held connection, server CPU
# while all are idle, the handshake latency of fresh clients while they are held (p50/p99),
# the time until one small message reaches every held client (median of 5) and the sustained
# fan-out rate (deliveries per second of a burst of 200 small messages). Both processes need
# one descriptor per connection, so N must stay below the hard open-file limit (`ulimit -Hn`).
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OURS=""
BASELINE=""
COUNTS="1000 5000 19000"
while [ $# -gt 0 ]; do
    case "$1" in
        --ours) OURS=$2; shift 2 ;;
        --baseline) BASELINE=$2; shift 2 ;;
        --counts) COUNTS=$2; shift 2 ;;
        -h|--help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "scale.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ -n "$OURS" ] || { echo "scale.sh: --ours PATH is required" >&2; exit 2; }

ulimit -n "$(ulimit -Hn)" || exit 1
LIMIT=$(ulimit -n)
(cd "$HERE/connrate" && cargo build --release -q) || { echo "scale.sh: building bench/connrate failed" >&2; exit 1; }
GEN="$HERE/connrate/target/release/websocat-connrate"
WORK=$(mktemp -d)
SRV=""
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# WHO BIN N: one measurement; prints a table row.
measure() {
    local who=$1 bin=$2 n=$3 port out
    port=$(free_port)
    "$bin" -b "ws-l:127.0.0.1:$port" broadcast:mirror: 2>"$WORK/server.$who.$n.log" &
    SRV=$!
    for _ in $(seq 100); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
        sleep 0.1
    done
    if out=$(timeout 600 "$GEN" --port "$port" --hold "$n" --server-pid "$SRV" 2>"$WORK/err"); then
        # held=N rss_kib_per_conn=… idle_cpu_pct=… hs_p50_ms=… hs_p99_ms=… fanout_ms=… fanout_deliveries_per_s=… fanout_complete=0|1
        eval "local $out"
        [ "$fanout_complete" = 1 ] || fanout_deliveries_per_s="$fanout_deliveries_per_s (burst unfinished after 60 s)"
        printf '| %s | %s | %s | %s | %s / %s | %s | %s |\n' "$who" "$n" "$rss_kib_per_conn" \
            "$idle_cpu_pct" "$hs_p50_ms" "$hs_p99_ms" "$fanout_ms" "$fanout_deliveries_per_s"
    else
        printf '| %s | %s | failed: %s | | | | |\n' "$who" "$n" "$(tail -1 "$WORK/err")"
    fi
    kill "$SRV" 2>/dev/null
    wait "$SRV" 2>/dev/null
    SRV=""
}

echo "Open-file limit per process: $LIMIT (server and load generator each hold one descriptor per connection)."
echo
echo "| server | held | RSS per connection, KiB | idle CPU, % of a core | fresh handshake p50 / p99, ms | one message to all, ms | fan-out deliveries/s |"
echo "|---|---|---|---|---|---|---|"
for n in $COUNTS; do
    measure ours "$OURS" "$n"
    if [ -n "$BASELINE" ]; then measure baseline "$BASELINE" "$n"; fi
done
