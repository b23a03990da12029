#!/usr/bin/env bash
# Footprint benchmark: harbinger-agent (release, 10 s interval, every source that works
# here) and Debian's prometheus-node-exporter scraped every 10 s, side by side in one
# run. Reports peak and steady (median) RSS, CPU milliseconds per 10 s cycle and the
# release binary's size, as a Markdown table for BENCHMARKS.md. With RUNS > 1 the run is
# repeated and every figure is the median over the runs (ratios are taken within each
# run, against the node_exporter of that same run).
#
#   bench/footprint.sh                        # 3 runs of 5 minutes (the documented run)
#   DURATION=30 RUNS=1 bench/footprint.sh     # CI-sized smoke run
#   bench/footprint.sh callgrind              # per-cycle CPU breakdown (instructions)
#   BUILD=0 bench/footprint.sh                # measure the binaries already built
#
# CPU time comes from /proc/<pid>/task/*/schedstat (nanoseconds of every live thread),
# not from the 10 ms ticks of /proc/<pid>/stat, which round a ~1 ms cycle to 0 or 10.
#
# Needs: cargo, curl, python3, prometheus-node-exporter (apt-get install
# prometheus-node-exporter); for `callgrind`, valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-300}
RUNS=${RUNS:-3}
CYCLE=10
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The agent is built on its own: built together with the collector, cargo would unify
# features and the measured binary would carry the collector's (HTTP/2, regex) code.
# BUILD=0 measures the binaries already in target/release.
build() {
    [ "${BUILD:-1}" = 0 ] && return 0
    cargo build --release -q -p harbinger-agent
    cargo build --release -q -p harbinger-collector
}

# A collector to ship to, so the agent does its normal work (not measured). Sets $cport.
start_collector() {
    cport=$(free_port)
    cat > "$work/collector.toml" <<TOML
listen = "127.0.0.1:$cport"
data_dir = "$work/collector"
TOML
    target/release/harbinger-collector serve --config "$work/collector.toml" 2>"$work/collector.log" &
    pids+=($!)
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$cport/readyz" >/dev/null && break; sleep 0.2; done
}

agent_config() { # $1 state dir, $2 interval
    cat <<TOML
collector_urls = ["http://127.0.0.1:$cport"]
interval = "$2"
state_dir = "$1"
TOML
}

if [ "${1:-}" = callgrind ]; then
    # Instruction counts are repeatable on a noisy shared machine, unlike wall time.
    # A build with symbols (same optimisation as release) in its own target dir.
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
    export CARGO_TARGET_DIR=target/profiling CARGO_PROFILE_RELEASE_STRIP=none \
        CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
    cargo build --release -q -p harbinger-agent
    bin=target/profiling/release/harbinger-agent
    unset CARGO_TARGET_DIR
    cargo build --release -q -p harbinger-collector
    start_collector
    # 1 s cycles so that 40 of them fit in a minute under valgrind; a cycle does the
    # same work whatever the interval.
    agent_config "$work/agent" 1s > "$work/agent.toml"
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$bin" run --config "$work/agent.toml" 2>"$work/valgrind.log" &
    vpid=$!; pids+=($vpid)
    sleep 15                                  # start-up and first cycles excluded
    callgrind_control -z "$vpid" >/dev/null
    sleep 40
    callgrind_control -d "$vpid" >/dev/null
    sleep 1
    kill -INT "$vpid"; wait "$vpid" || true
    dump=$(ls "$work"/cg.out.* | head -1)
    callgrind_annotate --inclusive=yes "$dump" > "$work/annotated" 2>/dev/null
    total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' "$work/annotated")
    cycles=$(grep -m1 -E "=> .*Scheduler::cycle \(" "$work/annotated" | sed -E 's/.*\(([0-9]+)x\).*/\1/')
    part() { # inclusive instructions of the first line matching $1
        grep -m1 -E "$1" "$work/annotated" | awk '{gsub(",", "", $1); print $1}'
    }
    row() { # label, instructions
        awk -v l="$1" -v i="${2:-0}" -v c="$cycles" -v t="$total" \
            'BEGIN {printf "| %s | %d | %.0f%% |\n", l, i / c / 1000, 100 * i / t}'
    }
    echo "Cycles profiled: $cycles (after a 15 s warm-up); instructions per cycle, thousands."
    echo
    echo "| part of a cycle | k instructions | share |"
    echo "| --- | --- | --- |"
    # "=> … (Nx)" lines are the inclusive cost of the calls from one call site.
    collect=$(part "=> .*Scheduler::cycle \(")
    finish=$(part "=> .*Output::finish \(")
    append=$(part "=> .*Spool::append \(")
    read=$(part "=> .*Spool::read \(")
    seal=$(part "=> .*Shipper::seal_with \(")
    ship=$(part "shipper/mod.rs:<tokio::future::maybe_done::MaybeDone")
    row "collection: every source (/proc, /sys)" "$collect"
    row "grouping samples into series" "$finish"
    row "spool append (JSON, zstd, write)" "$append"
    row "spool read back (zstd, JSON)" "$read"
    row "batch encoding (merge, JSON, zstd)" "$seal"
    row "rest of the shipper (ledger, sequence, HTTP request)" $((ship - read - seal))
    row "rest (runtime, hyper connection task, logging)" $((total - collect - finish - append - ship))
    row "**total**" "$total"
    exit 0
fi

exporter=$(command -v prometheus-node-exporter || true)
[ -n "$exporter" ] || { echo "prometheus-node-exporter is not installed" >&2; exit 2; }
build
start_collector

hz=$(getconf CLK_TCK)
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

: > "$work/runs"
cycles=$((DURATION / CYCLE))
for run in $(seq "$RUNS"); do
    nport=$(free_port)
    agent_config "$work/agent-$run" "${CYCLE}s" > "$work/agent.toml"
    RUST_LOG=warn target/release/harbinger-agent run --config "$work/agent.toml" 2>"$work/agent.log" &
    apid=$!; pids+=($apid)
    "$exporter" --web.listen-address="127.0.0.1:$nport" 2>"$work/exporter.log" &
    npid=$!; pids+=($npid)
    sleep 2
    : > "$work/samples"
    a0=$(cpu_ns "$apid"); n0=$(cpu_ns "$npid"); at0=$(ticks "$apid"); nt0=$(ticks "$npid")
    for _ in $(seq "$cycles"); do
        curl -fs "http://127.0.0.1:$nport/metrics" -o "$work/scrape" # the Prometheus scrape
        sleep "$CYCLE"
        echo "$(rss_kib "$apid") $(rss_kib "$npid")" >> "$work/samples"
    done
    a1=$(cpu_ns "$apid"); n1=$(cpu_ns "$npid"); at1=$(ticks "$apid"); nt1=$(ticks "$npid")
    a_rss=$(awk '{print $1}' "$work/samples" | median); n_rss=$(awk '{print $2}' "$work/samples" | median)
    a_ms=$(awk -v d=$((a1 - a0)) -v c="$cycles" 'BEGIN {printf "%.3f", d / 1e6 / c}')
    n_ms=$(awk -v d=$((n1 - n0)) -v c="$cycles" 'BEGIN {printf "%.3f", d / 1e6 / c}')
    at_ms=$(awk -v d=$((at1 - at0)) -v c="$cycles" -v hz="$hz" 'BEGIN {printf "%.3f", d * 1000 / hz / c}')
    nt_ms=$(awk -v d=$((nt1 - nt0)) -v c="$cycles" -v hz="$hz" 'BEGIN {printf "%.3f", d * 1000 / hz / c}')
    # One line per run: agent rss, peak, cpu ms, tick ms; exporter the same.
    echo "$a_rss $(hwm_kib "$apid") $a_ms $at_ms $n_rss $(hwm_kib "$npid") $n_ms $nt_ms" >> "$work/runs"
    echo "run $run: agent $a_rss KiB ${a_ms} ms/cycle; node_exporter $n_rss KiB ${n_ms} ms/cycle" >&2
    kill "$apid" "$npid"; wait "$apid" "$npid" 2>/dev/null || true
done
series=$(grep -vc '^#' "$work/scrape" || true)

col() { awk -v c="$1" '{print $c}' "$work/runs" | median; }
ratio_col() { awk -v a="$1" -v b="$2" '{if ($b > 0) print $a / $b}' "$work/runs" | median; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
size=$(stat -c %s target/release/harbinger-agent)
r() { awk -v x="$1" 'BEGIN {printf "%.2f", x}'; }

cat <<MD
Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r); $(date -u +%F).
Runs: ${RUNS} × ${DURATION} s (${cycles} cycles of ${CYCLE} s each); medians over the runs. node_exporter $("$exporter" --version 2>&1 | awk 'NR==1 {print $3}') served ${series} series per scrape.

| | harbinger-agent | node_exporter | agent / node_exporter |
| --- | --- | --- | --- |
| steady RSS (median) | $(mib "$(col 1)") MiB | $(mib "$(col 5)") MiB | $(r "$(ratio_col 1 5)") |
| peak RSS (VmHWM) | $(mib "$(col 2)") MiB | $(mib "$(col 6)") MiB | $(r "$(ratio_col 2 6)") |
| CPU per 10 s cycle (schedstat) | $(col 3) ms | $(col 7) ms | $(r "$(ratio_col 3 7)") |
| CPU per 10 s cycle (ticks, coarse) | $(col 4) ms | $(col 8) ms | |
| release binary | $(mib $((size / 1024))) MiB | $(mib $(( $(stat -c %s "$exporter") / 1024 ))) MiB | |
MD
