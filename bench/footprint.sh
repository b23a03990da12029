#!/usr/bin/env bash
# Footprint benchmark: harbinger-agent (release, 10 s interval, every source that works
# here) and Debian's prometheus-node-exporter scraped every 10 s, side by side in one
# run. Reports peak and steady (median) RSS, CPU milliseconds per 10 s cycle (median
# over cycles) and the release binary's size, as a Markdown table for BENCHMARKS.md.
#
#   bench/footprint.sh                 # 5 minutes (the documented run)
#   DURATION=30 bench/footprint.sh     # CI-sized smoke run
#
# Needs: cargo, curl, prometheus-node-exporter (apt-get install prometheus-node-exporter).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-300}
CYCLE=10
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

exporter=$(command -v prometheus-node-exporter || true)
[ -n "$exporter" ] || { echo "prometheus-node-exporter is not installed" >&2; exit 2; }
cargo build --release -q -p harbinger-agent -p harbinger-collector

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port); nport=$(free_port)

# A collector to ship to, so the agent does its normal work (not measured).
cat > "$work/collector.toml" <<TOML
listen = "127.0.0.1:$cport"
data_dir = "$work/collector"
TOML
target/release/harbinger-collector serve --config "$work/collector.toml" 2>"$work/collector.log" &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$cport/readyz" >/dev/null && break; sleep 0.2; done

cat > "$work/agent.toml" <<TOML
collector_urls = ["http://127.0.0.1:$cport"]
interval = "${CYCLE}s"
state_dir = "$work/agent"
TOML
RUST_LOG=warn target/release/harbinger-agent run --config "$work/agent.toml" 2>"$work/agent.log" &
apid=$!; pids+=($apid)
"$exporter" --web.listen-address="127.0.0.1:$nport" 2>"$work/exporter.log" &
npid=$!; pids+=($npid)
sleep 2

hz=$(getconf CLK_TCK)
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

: > "$work/samples"
cycles=$((DURATION / CYCLE))
a_prev=$(ticks "$apid"); n_prev=$(ticks "$npid")
for _ in $(seq "$cycles"); do
    curl -fs "http://127.0.0.1:$nport/metrics" -o "$work/scrape" # the Prometheus scrape
    sleep "$CYCLE"
    a_now=$(ticks "$apid"); n_now=$(ticks "$npid")
    echo "$(rss_kib "$apid") $((a_now - a_prev)) $(rss_kib "$npid") $((n_now - n_prev))" >> "$work/samples"
    a_prev=$a_now; n_prev=$n_now
done
series=$(grep -vc '^#' "$work/scrape" || true)

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$1" '{print $c}' "$work/samples" | median; }
a_rss=$(col 1); a_cpu=$(col 2); n_rss=$(col 3); n_cpu=$(col 4)
# CPU per cycle: total ticks over the run / cycles, in ms (ticks are 1/hz s, coarse,
# hence the total rather than a per-cycle median when it rounds to 0).
a_total=$(awk '{s+=$2} END {print s}' "$work/samples"); n_total=$(awk '{s+=$4} END {print s}' "$work/samples")
a_ms=$(awk -v t="$a_total" -v c="$cycles" -v hz="$hz" 'BEGIN {printf "%.2f", t*1000/hz/c}')
n_ms=$(awk -v t="$n_total" -v c="$cycles" -v hz="$hz" 'BEGIN {printf "%.2f", t*1000/hz/c}')
a_peak=$(hwm_kib "$apid"); n_peak=$(hwm_kib "$npid")
size=$(stat -c %s target/release/harbinger-agent)
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b>0) printf "%.2f", a/b; else print "n/a"}'; }

cat <<MD
Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r); $(date -u +%F).
Run: ${DURATION} s, ${cycles} cycles of ${CYCLE} s; node_exporter $("$exporter" --version 2>&1 | awk 'NR==1 {print $3}') served ${series} series per scrape.

| | harbinger-agent | node_exporter | agent / node_exporter |
| --- | --- | --- | --- |
| steady RSS (median) | $(mib "$a_rss") MiB | $(mib "$n_rss") MiB | $(ratio "$a_rss" "$n_rss") |
| peak RSS (VmHWM) | $(mib "$a_peak") MiB | $(mib "$n_peak") MiB | $(ratio "$a_peak" "$n_peak") |
| CPU per 10 s cycle (mean of ticks) | ${a_ms} ms | ${n_ms} ms | $(ratio "$a_ms" "$n_ms") |
| CPU ticks per cycle (median, 1 tick = $((1000 / hz)) ms) | ${a_cpu} | ${n_cpu} | |
| release binary | $(mib $((size / 1024))) MiB | $(mib $(( $(stat -c %s "$exporter") / 1024 ))) MiB | |
MD
