#!/usr/bin/env bash
# Benchmark our websocat against an optional baseline binary (for example websocat 1.x).
#
# Usage: bench/run.sh [--baseline PATH] [--quick] [--rounds N] [--ours PATH] [--keep]
#
# Builds the release binary (`cargo build --release`, honouring CARGO_TARGET_DIR) unless --ours
# is given, then runs every measurement N rounds, alternating ours and the baseline inside each
# round, and prints a markdown table of medians and ratios ours/baseline on stdout. Progress and
# skipped measurements go to stderr. Everything runs on 127.0.0.1; background processes are
# killed on exit. See bench/README.md for what each number means.
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
WSCLIENT="$HERE/wsclient.py"

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    cat <<'EOF'

Options:
  --baseline PATH  also measure this websocat binary (e.g. websocat 1.x from `cargo install websocat`)
  --quick          smaller sizes and counts, 3 rounds, 2-second iperf3 runs (about a minute)
  --rounds N       number of alternating rounds (default: 5, or 3 with --quick)
  --ours PATH      measure this binary instead of building the release binary
  --keep           keep the work directory (servers' stderr, raw values) and print its path
  -h, --help       show this help
EOF
}

BASELINE=""
OURS=""
QUICK=0
ROUNDS=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline) [ $# -ge 2 ] || { echo "run.sh: --baseline needs a path" >&2; exit 2; }
                    BASELINE=$2; shift 2 ;;
        --baseline=*) BASELINE=${1#*=}; shift ;;
        --ours) [ $# -ge 2 ] || { echo "run.sh: --ours needs a path" >&2; exit 2; }
                OURS=$2; shift 2 ;;
        --ours=*) OURS=${1#*=}; shift ;;
        --rounds) [ $# -ge 2 ] || { echo "run.sh: --rounds needs a number" >&2; exit 2; }
                  ROUNDS=$2; shift 2 ;;
        --rounds=*) ROUNDS=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done

if [ "$QUICK" = 1 ]; then
    : "${ROUNDS:=3}"
    IPERF_SECS=2
    PIPE_MIB=64
    MSGS=20000
    IDLE_N=500
    CONN_N=20000
    TLS_SECS=3
else
    : "${ROUNDS:=5}"
    IPERF_SECS=10
    PIPE_MIB=1024
    MSGS=200000
    IDLE_N=5000
    CONN_N=60000
    TLS_SECS=10
fi
STARTUP_RUNS=30
CONN_CONCURRENCY=64
CPU_BUDGET=40  # % of one CPU for the server in the "held to a CPU budget" connection-rate row
CONN_PROCS=4  # only for the Python fallback client
RSS_SESSION_MSGS=1000
case "$ROUNDS" in ''|*[!0-9]*|0) echo "run.sh: --rounds must be a positive integer" >&2; exit 2 ;; esac

log() { printf '%s\n' "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is required"
[ -r "$WSCLIENT" ] || die "missing $WSCLIENT"

# ---------------------------------------------------------------- binaries

if [ -z "$OURS" ]; then
    command -v cargo >/dev/null || die "cargo not found (or pass --ours PATH)"
    log "== building the release binary (cargo build --release)"
    (cd "$ROOT" && cargo build --release) || die "cargo build --release failed"
    TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') \
        || die "cargo metadata failed"
    OURS="$TARGET_DIR/release/websocat"
fi
[ -x "$OURS" ] || die "our binary $OURS is not executable"
WHOS=(ours)
if [ -n "$BASELINE" ]; then
    [ -x "$BASELINE" ] || die "baseline $BASELINE is not an executable file"
    WHOS+=(baseline)
fi
bin_of() { if [ "$1" = ours ]; then printf '%s' "$OURS"; else printf '%s' "$BASELINE"; fi; }

# ---------------------------------------------------------------- work dir, cleanup

WORK=$(mktemp -d "${TMPDIR:-/tmp}/websocat-bench.XXXXXX") || die "mktemp failed"
mkdir -p "$WORK/res"
SERVER_LOG="$WORK/servers.log"
: >"$SERVER_LOG"
NOTES="$WORK/notes"
: >"$NOTES"
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    [ -n "${QUOTA_GROUP:-}" ] && rmdir "$QUOTA_GROUP" 2>/dev/null
    if [ "$KEEP" = 1 ]; then log "== work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'log "run.sh: interrupted"; exit 130' INT TERM HUP

# start_bg CMD...: run CMD in the background (stdin and stdout /dev/null, stderr appended to
# the server log); its pid is left in BG_PID and killed on exit.
start_bg() {
    "$@" </dev/null >/dev/null 2>>"$SERVER_LOG" &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# stop_bg PID: kill and reap a process started by start_bg.
stop_bg() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# alive PID: true while PID runs (a zombie child that was not reaped yet does not count).
alive() {
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    [ "${rest%% *}" != Z ]
}

# wait_listen PORT PID: wait (10 s at most) until something listens on 127.0.0.1:PORT, without
# connecting to it (a probe connection would use up a --oneshot server). Fails if PID dies.
wait_listen() {
    local hex i
    hex=$(printf '%04X' "$1")
    for ((i = 0; i < 200; i++)); do
        grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A" /proc/net/tcp 2>/dev/null && return 0
        alive "$2" || return 1
        sleep 0.05
    done
    return 1
}

# wait_exit PID SECS: wait until background child PID exits, at most SECS seconds; set
# EXIT_STATUS to its exit status, or "timeout".
wait_exit() {
    local i
    for ((i = 0; i < $2 * 100; i++)); do
        alive "$1" || break
        sleep 0.01
    done
    if alive "$1"; then
        EXIT_STATUS=timeout
    else
        wait "$1"; EXIT_STATUS=$?
    fi
}

ports() { python3 "$WSCLIENT" ports "$1"; }

# now: seconds since the epoch, microsecond resolution, without forking.
now() { printf '%s' "$EPOCHREALTIME"; }
# calc EXPR: evaluate a floating-point awk expression.
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# record MEASURE WHO VALUE / fail MEASURE WHO REASON
record() { printf '%s\n' "$3" >>"$WORK/res/$1.$2"; }
fail() {
    log "   $1/$2 failed: $3"
    printf '%s/%s: %s\n' "$1" "$2" "$3" >>"$NOTES"
}
skip() {
    log "-- skipping $1: $2"
    printf '%s: skipped: %s\n' "$1" "$2" >>"$NOTES"
}

# ensure_tool CMD PACKAGE: make CMD available (apt-get install PACKAGE when root), else fail.
ensure_tool() {
    if [ "$1" = time ]; then [ -x /usr/bin/time ] && return 0; else command -v "$1" >/dev/null && return 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "== installing $2 with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >>"$WORK/apt.log" 2>&1 \
            || { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$WORK/apt.log" 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >>"$WORK/apt.log" 2>&1; }
    fi
    if [ "$1" = time ]; then [ -x /usr/bin/time ]; else command -v "$1" >/dev/null; fi
}

# Raise the descriptor limit for the idle-connection test (client and server both need N).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
FD_LIMIT=$(ulimit -n)
if [ "$FD_LIMIT" != unlimited ] && [ "$FD_LIMIT" -lt $((IDLE_N + 100)) ]; then
    log "-- descriptor limit $FD_LIMIT: idle test reduced to $((FD_LIMIT - 100)) connections"
    IDLE_N=$((FD_LIMIT - 100))
fi

HAVE_IPERF=0; HAVE_SOCAT=0; HAVE_TIME=0
ensure_tool iperf3 iperf3 && HAVE_IPERF=1
ensure_tool socat socat && HAVE_SOCAT=1
ensure_tool time time && HAVE_TIME=1

# ---------------------------------------------------------------- 1. tunnel throughput

# iperf_gbps PORT: run an iperf3 client against PORT, print received Gbit/s.
iperf_gbps() {
    timeout $((IPERF_SECS + 30)) iperf3 -c 127.0.0.1 -p "$1" -t "$IPERF_SECS" -J 2>/dev/null \
        | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit("iperf3 printed no JSON")
if "error" in d:
    sys.exit("iperf3: " + d["error"])
print("%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))'
}

tunnel_run() { # WHO: one tunnel measurement through our or the baseline pair, or socat, or none
    local who=$1 a b out p1 p2 err
    read -r a b <<<"$(ports 2)"
    case "$who" in
        direct)
            if out=$(iperf_gbps "$IPERF_PORT" 2>"$WORK/err"); then record tunnel direct "$out"
            else fail tunnel direct "$(cat "$WORK/err")"; fi
            return ;;
        socat)
            start_bg socat "tcp-l:$b,bind=127.0.0.1,fork,reuseaddr" "tcp:127.0.0.1:$IPERF_PORT"; p1=$BG_PID
            start_bg socat "tcp-l:$a,bind=127.0.0.1,fork,reuseaddr" "tcp:127.0.0.1:$b"; p2=$BG_PID ;;
        *)
            start_bg "$(bin_of "$who")" -b "ws-l:127.0.0.1:$b" "tcp:127.0.0.1:$IPERF_PORT"; p1=$BG_PID
            start_bg "$(bin_of "$who")" -b "tcp-l:127.0.0.1:$a" "ws://127.0.0.1:$b/"; p2=$BG_PID ;;
    esac
    if ! wait_listen "$b" "$p1" || ! wait_listen "$a" "$p2"; then
        fail tunnel "$who" "relay did not start listening"
    elif out=$(iperf_gbps "$a" 2>"$WORK/err"); then
        record tunnel "$who" "$out"
    else
        err=$(cat "$WORK/err"); fail tunnel "$who" "${err:-iperf3 failed}"
    fi
    stop_bg "$p2"; stop_bg "$p1"
}

# make_tls_identity: a self-signed P-256 certificate for 127.0.0.1 as PKCS#12 ($TLS_P12,
# password $TLS_PASS) for the TLS rows; both binaries read --pkcs12-der. Returns 1 without
# the openssl command.
TLS_P12=""
TLS_PASS=bench
make_tls_identity() {
    [ -n "$TLS_P12" ] && return 0
    command -v openssl >/dev/null || return 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$WORK/tls.key" -out "$WORK/tls.pem" >>"$WORK/openssl.log" 2>&1 \
        && openssl pkcs12 -export -in "$WORK/tls.pem" -inkey "$WORK/tls.key" \
            -out "$WORK/tls.p12" -passout "pass:$TLS_PASS" >>"$WORK/openssl.log" 2>&1 \
        || return 1
    TLS_P12="$WORK/tls.p12"
}

# tunnel_wss_run WHO: the tunnel with TLS on the WebSocket hop (wss-l / wss://, -k on the
# client: the certificate is self-signed).
tunnel_wss_run() {
    local who=$1 a b out p1 p2 err bin
    bin=$(bin_of "$who")
    read -r a b <<<"$(ports 2)"
    start_bg "$bin" -b --pkcs12-der "$TLS_P12" --pkcs12-passwd "$TLS_PASS" \
        "wss-l:127.0.0.1:$b" "tcp:127.0.0.1:$IPERF_PORT"; p1=$BG_PID
    start_bg "$bin" -b -k "tcp-l:127.0.0.1:$a" "wss://127.0.0.1:$b/"; p2=$BG_PID
    if ! wait_listen "$b" "$p1" || ! wait_listen "$a" "$p2"; then
        fail tunnel_wss "$who" "relay did not start listening"
    elif out=$(iperf_gbps "$a" 2>"$WORK/err"); then
        record tunnel_wss "$who" "$out"
    else
        err=$(cat "$WORK/err"); fail tunnel_wss "$who" "${err:-iperf3 failed}"
    fi
    stop_bg "$p2"; stop_bg "$p1"
}

bench_tunnel() {
    local wss=1
    make_tls_identity || { wss=0; skip "wss tunnel" "the openssl command is missing or failed"; }
    if [ "$HAVE_IPERF" = 0 ]; then skip tunnel "iperf3 is not installed (and could not be installed)"; return; fi
    read -r IPERF_PORT <<<"$(ports 1)"
    start_bg iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
    local iperf_pid=$BG_PID r who
    if ! wait_listen "$IPERF_PORT" "$iperf_pid"; then
        skip tunnel "iperf3 server did not start"; stop_bg "$iperf_pid"; return
    fi
    [ "$HAVE_SOCAT" = 1 ] || skip "socat reference" "socat is not installed (and could not be installed)"
    for ((r = 1; r <= ROUNDS; r++)); do
        log "   round $r/$ROUNDS"
        tunnel_run direct
        [ "$HAVE_SOCAT" = 1 ] && tunnel_run socat
        for who in "${WHOS[@]}"; do
            tunnel_run "$who"
            [ "$wss" = 1 ] && tunnel_wss_run "$who"
        done
    done
    stop_bg "$iperf_pid"
}

# ---------------------------------------------------------------- 2. pipe throughput

pipe_run() { # WHO
    local who=$1 bin p srv t0 t1 rc crc
    bin=$(bin_of "$who")
    read -r p <<<"$(ports 1)"
    start_bg timeout 600 "$bin" -b -u --oneshot "ws-l:127.0.0.1:$p" -; srv=$BG_PID
    if ! wait_listen "$p" "$srv"; then fail pipe "$who" "server did not start listening"; stop_bg "$srv"; return; fi
    t0=$(now)
    dd if=/dev/zero bs=1M count="$PIPE_MIB" status=none \
        | timeout 600 "$bin" -b - "ws://127.0.0.1:$p/" >/dev/null 2>>"$SERVER_LOG"
    crc=$?
    if [ "$crc" != 0 ]; then fail pipe "$who" "client exit $crc"; stop_bg "$srv"; return; fi
    wait_exit "$srv" 30; rc=$EXIT_STATUS
    t1=$(now)
    stop_bg "$srv"
    if [ "$crc" != 0 ] || [ "$rc" != 0 ]; then fail pipe "$who" "client exit $crc, server exit $rc"; return; fi
    record pipe "$who" "$(calc "$PIPE_MIB / ($t1 - $t0)")"
}

# pipe_check WHO: one untimed run with 4 MiB of random bytes written to a file and compared, so
# that a binary that loses or changes data cannot look fast in the timed runs (whose output
# goes to /dev/null). Returns 1 on a mismatch.
pipe_check() {
    local who=$1 bin p srv crc
    bin=$(bin_of "$who")
    read -r p <<<"$(ports 1)"
    "$bin" -b -u --oneshot "ws-l:127.0.0.1:$p" - </dev/null >"$WORK/pipe.out" 2>>"$SERVER_LOG" &
    srv=$!; PIDS+=("$srv")
    if ! wait_listen "$p" "$srv"; then fail pipe "$who" "server did not start listening"; stop_bg "$srv"; return 1; fi
    timeout 60 "$bin" -b - "ws://127.0.0.1:$p/" <"$WORK/pipe.in" >/dev/null 2>>"$SERVER_LOG"
    crc=$?
    wait_exit "$srv" 10
    stop_bg "$srv"
    if [ "$crc" != 0 ] || [ "$EXIT_STATUS" != 0 ] || ! cmp -s "$WORK/pipe.in" "$WORK/pipe.out"; then
        fail pipe "$who" "check run: client exit $crc, server exit $EXIT_STATUS, $(wc -c <"$WORK/pipe.out") of 4194304 bytes arrived$(cmp -s "$WORK/pipe.in" "$WORK/pipe.out" || printf ' (differ)')"
        return 1
    fi
}

bench_pipe() {
    local r who ok=()
    head -c 4194304 /dev/urandom >"$WORK/pipe.in"
    for who in "${WHOS[@]}"; do pipe_check "$who" && ok+=("$who"); done
    [ ${#ok[@]} -gt 0 ] || return
    for ((r = 1; r <= ROUNDS; r++)); do
        log "   round $r/$ROUNDS"
        for who in "${ok[@]}"; do pipe_run "$who"; done
    done
}

# ---------------------------------------------------------------- 3. small messages

mirror_server() { # WHO -> sets SRV_PID, SRV_PORT; returns 1 if it did not start
    read -r SRV_PORT <<<"$(ports 1)"
    start_bg "$(bin_of "$1")" "ws-l:127.0.0.1:$SRV_PORT" mirror:; SRV_PID=$BG_PID
    wait_listen "$SRV_PORT" "$SRV_PID" && return 0
    stop_bg "$SRV_PID"; return 1
}

msgs_run() { # WHO
    local who=$1 t0 t1 rc lines
    if ! mirror_server "$who"; then fail msgs "$who" "server did not start listening"; return; fi
    t0=$(now)
    timeout 600 "$(bin_of "$who")" -t "ws://127.0.0.1:$SRV_PORT/" <"$WORK/lines.in" >"$WORK/lines.out" 2>>"$SERVER_LOG"
    rc=$?
    t1=$(now)
    stop_bg "$SRV_PID"
    lines=$(wc -l <"$WORK/lines.out")
    if [ "$rc" != 0 ]; then fail msgs "$who" "client exit $rc"; return; fi
    if [ "$lines" != "$MSGS" ]; then fail msgs "$who" "sent $MSGS lines, got $lines back"; return; fi
    if ! cmp -s "$WORK/lines.in" "$WORK/lines.out"; then fail msgs "$who" "lines came back changed"; return; fi
    record msgs "$who" "$(calc "$MSGS / ($t1 - $t0)")"
}

bench_msgs() {
    local r who
    # 100-byte messages: 99 letters and a newline.
    python3 -c "import sys; sys.stdout.write(('x' * 99 + '\n') * $MSGS)" >"$WORK/lines.in"
    for ((r = 1; r <= ROUNDS; r++)); do
        log "   round $r/$ROUNDS"
        for who in "${WHOS[@]}"; do msgs_run "$who"; done
    done
}

# ---------------------------------------------------------------- 4. idle connections

idle_run() { # WHO
    local who=$1 out before after per
    if ! mirror_server "$who"; then fail idle "$who" "server did not start listening"; return; fi
    if out=$(timeout 300 python3 "$WSCLIENT" idle --port "$SRV_PORT" --pid "$SRV_PID" -n "$IDLE_N" 2>"$WORK/err"); then
        read -r before after per <<<"$out"
        record idle "$who" "$per"
        log "   $who: VmRSS $before KiB -> $after KiB"
    else
        fail idle "$who" "$(cat "$WORK/err")"
    fi
    stop_bg "$SRV_PID"
}

bench_idle() {
    local r who
    for ((r = 1; r <= ROUNDS; r++)); do
        log "   round $r/$ROUNDS"
        for who in "${WHOS[@]}"; do idle_run "$who"; done
    done
}

# ---------------------------------------------------------------- 5. connection rate

# The load generator is bench/connrate, compiled: the Python client costs more CPU per
# connection than the servers it measures. Falls back to the Python client without cargo.
build_connrate() {
    local dir
    CONNRATE=""
    command -v cargo >/dev/null || return 1
    log "== building the load generator (bench/connrate, cargo build --release)"
    (cd "$HERE/connrate" && cargo build --release) >"$WORK/connrate-build.log" 2>&1 \
        || { log "   failed: $(tail -3 "$WORK/connrate-build.log")"; return 1; }
    dir=$(cd "$HERE/connrate" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') || return 1
    CONNRATE="$dir/release/websocat-connrate"
    [ -x "$CONNRATE" ]
}

# cpu_ns PID: nanoseconds of CPU time PID has used so far, threads that already ended
# included (utime + stime from /proc/PID/stat, in clock ticks). Fails if it cannot be read.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ns() {
    local line rest f
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    read -ra f <<<"$rest"
    [ "${#f[@]}" -gt 12 ] || return 1
    printf '%s' $(( (f[11] + f[12]) * (1000000000 / CLK_TCK) ))
}

# quota_setup: make a cgroup that holds its processes to CPU_BUDGET % of one CPU (cgroup v1
# "cpu" controller or cgroup v2 cpu.max; needs root). Sets QUOTA_GROUP, or returns 1.
quota_setup() {
    local g
    QUOTA_GROUP=""
    if [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
        g=/sys/fs/cgroup/cpu/websocat-bench.$$
        mkdir "$g" 2>/dev/null || return 1
        QUOTA_GROUP=$g
        { echo 100000 >"$g/cpu.cfs_period_us" && echo $((CPU_BUDGET * 1000)) >"$g/cpu.cfs_quota_us"; } 2>/dev/null || return 1
    elif [ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
        g=/sys/fs/cgroup/websocat-bench.$$
        mkdir "$g" 2>/dev/null || return 1
        QUOTA_GROUP=$g
        echo "$((CPU_BUDGET * 1000)) 100000" >"$g/cpu.max" 2>/dev/null || return 1
    else
        return 1
    fi
}

conn_run() { # WHO [MEASURE]: MEASURE conn (default) or conn_budget (server in QUOTA_GROUP)
    local who=$1 measure=${2:-conn} out c0 c1 rate busy
    read -r SRV_PORT <<<"$(ports 1)"
    start_bg "${PIN_SERVER[@]}" "$(bin_of "$who")" "ws-l:127.0.0.1:$SRV_PORT" mirror:; SRV_PID=$BG_PID
    if [ "$measure" = conn_budget ] && ! echo "$SRV_PID" >"$QUOTA_GROUP/cgroup.procs" 2>/dev/null; then
        fail "$measure" "$who" "could not move the server into $QUOTA_GROUP"; stop_bg "$SRV_PID"; return
    fi
    if ! wait_listen "$SRV_PORT" "$SRV_PID"; then
        fail "$measure" "$who" "server did not start listening"; stop_bg "$SRV_PID"; return
    fi
    c0=$(cpu_ns "$SRV_PID") || { fail "$measure" "$who" "cannot read /proc/$SRV_PID/stat"; stop_bg "$SRV_PID"; return; }
    if [ -n "$CONNRATE" ]; then
        out=$(timeout 300 "${PIN_CLIENT[@]}" "$CONNRATE" --port "$SRV_PORT" --count "$CONN_N" \
            --concurrency "$CONN_CONCURRENCY" 2>"$WORK/err")
    else
        out=$(timeout 300 python3 "$WSCLIENT" connrate --port "$SRV_PORT" --count "$CONN_N" \
            --procs "$CONN_PROCS" 2>"$WORK/err")
    fi
    if [ $? = 0 ]; then
        c1=$(cpu_ns "$SRV_PID") || c1=""
        read -r rate busy <<<"$out"
        record "$measure" "$who" "$rate"
        [ -n "$busy" ] && record "${measure}_client_busy" "$who" "$busy"
        [ "$measure" = conn ] && [ -n "$c1" ] && record conn_cpu "$who" "$(calc "($c1 - $c0) / 1000 / $CONN_N")"
    else
        fail "$measure" "$who" "$(head -3 "$WORK/err")"
    fi
    stop_bg "$SRV_PID"
}

bench_conn() {
    local r who
    PIN_SERVER=(); PIN_CLIENT=()
    if ! build_connrate; then
        skip "compiled load generator" "cargo is missing or the build failed; using the Python client ($CONN_PROCS processes)"
    fi
    # Server and load generator on CPUs of their own, so that neither steals the other's time.
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        PIN_SERVER=(taskset -c 0); PIN_CLIENT=(taskset -c 1)
    fi
    local budget=0
    if [ -n "$CONNRATE" ] && [ ${#PIN_SERVER[@]} -gt 0 ]; then
        if quota_setup; then budget=1
        else skip "connection rate at a CPU budget" "could not set a CPU quota (needs root and the cgroup v1 cpu controller, or cgroup v2 with cpu enabled for child groups)"; fi
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        log "   round $r/$ROUNDS"
        for who in "${WHOS[@]}"; do
            conn_run "$who"
            [ "$budget" = 1 ] && conn_run "$who" conn_budget
        done
    done
}

# tls_conn_run WHO: full TLS handshakes per second against a TLS mirror (`ssl-listen:`, which
# both binaries know), made by `openssl s_time -new` (a new session each time, no resumption)
# for TLS_SECS seconds; the rate is over the wall-clock time of the whole run.
tls_conn_run() {
    local who=$1 p srv t0 t1 out n
    read -r p <<<"$(ports 1)"
    start_bg "$(bin_of "$who")" -b --pkcs12-der "$TLS_P12" --pkcs12-passwd "$TLS_PASS" \
        "ssl-listen:127.0.0.1:$p" mirror:; srv=$BG_PID
    if ! wait_listen "$p" "$srv"; then fail tls_conn "$who" "server did not start listening"; stop_bg "$srv"; return; fi
    t0=$(now)
    out=$(timeout $((TLS_SECS + 30)) openssl s_time -connect "127.0.0.1:$p" -new -time "$TLS_SECS" 2>&1)
    t1=$(now)
    stop_bg "$srv"
    n=$(printf '%s\n' "$out" | sed -n 's/^\([0-9][0-9]*\) connections in .* real seconds.*/\1/p' | tail -1)
    if [ -z "$n" ] || [ "$n" = 0 ]; then
        fail tls_conn "$who" "openssl s_time: $(printf '%s' "$out" | tail -2 | tr '\n' ' ')"; return
    fi
    record tls_conn "$who" "$(calc "$n / ($t1 - $t0)")"
}

bench_tls_conn() {
    local r who
    if ! make_tls_identity; then skip "TLS handshake rate" "the openssl command is missing or failed"; return; fi
    for ((r = 1; r <= ROUNDS; r++)); do
        log "   round $r/$ROUNDS"
        for who in "${WHOS[@]}"; do tls_conn_run "$who"; done
    done
}

# ---------------------------------------------------------------- 6. start-up time, peak RSS

bench_startup() {
    local i who bin t0 t1 rc ok=()
    for who in "${WHOS[@]}"; do
        "$(bin_of "$who")" -b -u literal:x - </dev/null >"$WORK/out" 2>"$WORK/err"; rc=$?
        if [ "$rc" != 0 ] || [ "$(od -An -c "$WORK/out" | tr -d ' ')" != x ] || [ -s "$WORK/err" ]; then
            fail startup "$who" "\`websocat -b -u literal:x -\` exited $rc, printed '$(head -c 40 "$WORK/out")' (want exactly 'x') and '$(head -c 80 "$WORK/err")' on stderr"
        else
            ok+=("$who")
        fi
    done
    for ((i = 1; i <= STARTUP_RUNS; i++)); do
        for who in "${ok[@]}"; do
            bin=$(bin_of "$who")
            t0=$(now)
            "$bin" -b -u literal:x - </dev/null >/dev/null 2>&1
            t1=$(now)
            record startup "$who" "$(calc "($t1 - $t0) * 1000")"
        done
    done
}

bench_rss() {
    if [ "$HAVE_TIME" = 0 ]; then skip "peak RSS" "/usr/bin/time is not installed (and could not be installed)"; return; fi
    local r who bin rc
    python3 -c "import sys; sys.stdout.write(('x' * 99 + '\n') * $RSS_SESSION_MSGS)" >"$WORK/session.in"
    for ((r = 1; r <= ROUNDS; r++)); do
        for who in "${WHOS[@]}"; do
            bin=$(bin_of "$who")
            if /usr/bin/time -f %M -o "$WORK/rss" "$bin" -b -u literal:x - </dev/null >/dev/null 2>&1; then
                record rss_literal "$who" "$(tail -1 "$WORK/rss")"
            else
                fail rss_literal "$who" "exit status $?"
            fi
            if ! mirror_server "$who"; then fail rss_session "$who" "server did not start listening"; continue; fi
            timeout 60 /usr/bin/time -f %M -o "$WORK/rss" "$bin" -t "ws://127.0.0.1:$SRV_PORT/" \
                <"$WORK/session.in" >"$WORK/session.out" 2>>"$SERVER_LOG"
            rc=$?
            stop_bg "$SRV_PID"
            if [ "$rc" = 0 ] && cmp -s "$WORK/session.in" "$WORK/session.out"; then
                record rss_session "$who" "$(tail -1 "$WORK/rss")"
            else
                fail rss_session "$who" "client exit $rc or wrong echo"
            fi
        done
    done
}

# ---------------------------------------------------------------- run

log "== ours:     $OURS"
[ -n "$BASELINE" ] && log "== baseline: $BASELINE ($("$BASELINE" --version 2>&1 | head -1))"
log "== $ROUNDS rounds$([ "$QUICK" = 1 ] && printf ', --quick')"
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

log "== 1. TCP-over-WebSocket tunnel throughput (iperf3, ${IPERF_SECS}s per run)"
bench_tunnel
log "== 2. pipe throughput ($PIPE_MIB MiB)"
bench_pipe
log "== 3. small messages ($MSGS x 100 bytes, echoed)"
bench_msgs
log "== 4. idle connections ($IDLE_N)"
bench_idle
log "== 5. connection rate ($CONN_N handshakes+closes, $CONN_CONCURRENCY at a time)"
bench_conn
log "== 5b. TLS handshake rate (openssl s_time -new, ${TLS_SECS}s per run)"
bench_tls_conn
log "== 6. start-up time ($STARTUP_RUNS runs) and peak RSS"
bench_startup
bench_rss

# ---------------------------------------------------------------- report

# median MEASURE WHO: median of the recorded values, or nothing.
median() {
    local f="$WORK/res/$1.$2"
    [ -s "$f" ] || return 0
    sort -g "$f" | awk '{ v[NR] = $1 } END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'
}
# fmt VALUE: a figure with 3 significant digits (more before the decimal point), or "n/a".
fmt() {
    [ -n "$1" ] || { printf 'n/a'; return; }
    awk -v v="$1" 'BEGIN { a = v < 0 ? -v : v
        if (a >= 100) printf "%.0f", v; else if (a >= 10) printf "%.1f", v; else if (a >= 1) printf "%.2f", v; else printf "%.3f", v }'
}
ratio() {
    if [ -n "$1" ] && [ -n "$2" ] && awk -v b="$2" 'BEGIN { exit !(b != 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
    else
        printf '—'
    fi
}

row() { # MEASURE LABEL REFERENCES
    local o b
    o=$(median "$1" ours)
    if [ -n "$BASELINE" ]; then
        b=$(median "$1" baseline)
        printf '| %s | %s | %s | %s | %s |\n' "$2" "$(fmt "$o")" "$(fmt "$b")" "$(ratio "$o" "$b")" "$3"
    else
        printf '| %s | %s | — | — | %s |\n' "$2" "$(fmt "$o")" "$3"
    fi
}

# wss_refs: the wss tunnel as a fraction of the plain ws tunnel, for ours and the baseline.
wss_refs() {
    local text="" w p
    for who in "${WHOS[@]}"; do
        w=$(median tunnel_wss "$who"); p=$(median tunnel "$who")
        [ -n "$w" ] && [ -n "$p" ] && text="${text:+$text; }$who: $(ratio "$w" "$p") of its ws tunnel"
    done
    printf '%s' "${text:-—}"
}

refs=""
d=$(median tunnel direct); s=$(median tunnel socat)
[ -n "$d" ] && refs="iperf3 direct $(fmt "$d")"
[ -n "$s" ] && refs="${refs:+$refs; }socat pair $(fmt "$s")"
[ -n "$refs" ] || refs="—"

echo
echo "websocat benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average at start $START_LOAD"
echo "rounds: $ROUNDS$([ "$QUICK" = 1 ] && printf ' (--quick)'); medians; ratio = ours / baseline"
echo "ours: $OURS"
[ -n "$BASELINE" ] && echo "baseline: $BASELINE ($("$BASELINE" --version 2>&1 | head -1))"
echo
echo "| measurement | ours | baseline | ratio | references |"
echo "|---|---|---|---|---|"
row tunnel "TCP tunnel over WebSocket, Gbit/s (higher is better)" "$refs"
row tunnel_wss "TCP tunnel over TLS WebSocket (wss), Gbit/s (higher is better)" "$(wss_refs)"
row pipe "Pipe throughput, $PIPE_MIB MiB, MiB/s (higher is better)" "—"
row msgs "Small messages, $MSGS x 100 B echoed, messages/s (higher is better)" "—"
row idle "Idle connections, server RSS per connection at $IDLE_N, KiB (lower is better)" "—"
# busy_refs MEASURE: "load generator busy …" for the references column, or "—".
busy_refs() {
    local o b pct='BEGIN { printf "%.0f%%", v * 100 }' text="—"
    o=$(median "${1}_client_busy" ours); b=$(median "${1}_client_busy" baseline)
    if [ -n "$o" ]; then
        text="load generator busy $(awk -v v="$o" "$pct") of the time with ours"
        [ -n "$b" ] && text="$text, $(awk -v v="$b" "$pct") with the baseline"
    fi
    printf '%s' "$text"
}
row conn "Connection rate, handshake + close, per s (higher is better)" "$(busy_refs conn)"
row conn_budget "Connection rate, server held to $CPU_BUDGET % of one CPU, per s (higher is better)" "$(busy_refs conn_budget)"
row tls_conn "TLS handshakes (\`ssl-listen:\`, openssl s_time -new), per s (higher is better)" "—"
row conn_cpu "Server CPU per connection (handshake + close), µs (lower is better)" "—"
row startup "Start-up, \`-b -u literal:x -\`, median of $STARTUP_RUNS, ms (lower is better)" "—"
row rss_literal "Peak RSS, \`-b -u literal:x -\`, KiB (lower is better)" "—"
row rss_session "Peak RSS, client echoing $RSS_SESSION_MSGS lines, KiB (lower is better)" "—"

echo
echo "Raw values:"
for f in "$WORK"/res/*; do
    [ -e "$f" ] || continue
    printf -- '- %s:' "$(basename "$f")"
    while read -r v; do printf ' %s' "$(fmt "$v")"; done <"$f"
    echo
done
if [ -s "$NOTES" ]; then
    echo
    echo "Failures and skipped measurements:"
    sed 's/^/- /' "$NOTES"
fi
