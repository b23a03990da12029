#!/usr/bin/env bash
# Starts Harbinger's simulated BMC (OpenIPMI ipmi_sim) on 127.0.0.1 in the background
# and prints KEY=VALUE lines for `eval`. Progress goes to stderr.
#   IPMI_SIM_PORT (default 9723, UDP)   IPMI_SIM_CONSOLE_PORT (default PORT+1, TCP)
#   IPMI_SIM_RUN_DIR (default /tmp/harbinger-ipmi-sim-PORT)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${IPMI_SIM_PORT:-9723}"
console="${IPMI_SIM_CONSOLE_PORT:-$((port + 1))}"
run="${IPMI_SIM_RUN_DIR:-/tmp/harbinger-ipmi-sim-$port}"
say() { echo "[ipmi-sim] $*" >&2; }

for tool in ipmi_sim sdrcomp ipmitool; do
    command -v "$tool" >/dev/null || { say "missing $tool (apt-get install openipmi ipmitool)"; exit 1; }
done
ipmi() { ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$port" -U monitor -P monitor -L USER -N 1 -R 1 "$@"; }
admin() { ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$port" -U operator -P op-secret -N 1 -R 1 "$@"; }

if [ -s "$run/pid" ] && kill -0 "$(cat "$run/pid")" 2>/dev/null; then
    say "stopping the previous instance (pid $(cat "$run/pid"))"
    kill "$(cat "$run/pid")" || true
    sleep 0.5
fi
rm -rf "$run"
mkdir -p "$run/state/ipmi_sim/harbinger"
sdrcomp -8 -I "$here" -o "$run/state/ipmi_sim/harbinger/sdr.20.main" "$here/sdrs.txt"
sed -e "s/@PORT@/$port/" -e "s/@CONSOLE@/$console/" "$here/lan.conf" > "$run/lan.conf"
cp "$here/bmc.emu" "$run/bmc.emu"
# ipmi_sim dies of SIGPIPE when a console client leaves early, and of EOF on a console
# stdin: ignore SIGPIPE, run without the stdin console (-n), detach from the terminal.
setsid bash -c 'trap "" PIPE; echo $$ > "$1/pid"; cd "$1"; exec ipmi_sim -n -c lan.conf -f bmc.emu -s state' \
    sim "$run" </dev/null >"$run/ipmi_sim.log" 2>&1 &
for _ in $(seq 1 100); do
    if [ -s "$run/pid" ] && ipmi mc info >/dev/null 2>&1; then break; fi
    sleep 0.2
done
ipmi mc info >/dev/null 2>&1 || { say "ipmi_sim did not answer on 127.0.0.1:$port"; cat "$run/ipmi_sim.log" >&2; exit 1; }
# Real timestamps for the SEL (the simulator's clock starts at 0), then the seed.
admin sel time set now >/dev/null 2>&1 || say "could not set the SEL clock"
grep -v '^#' "$here/sel-seed.cmds" | "$here/simcmd.sh" "$console" >/dev/null
say "ready on 127.0.0.1:$port (console $console, pid $(cat "$run/pid"))"
cat <<OUT
HARBINGER_TEST_IPMI_SIM=127.0.0.1:$port
HARBINGER_TEST_IPMI_SIM_CONSOLE=127.0.0.1:$console
HARBINGER_TEST_IPMI_SIM_PID=$(cat "$run/pid")
HARBINGER_TEST_IPMI_SIM_USER=monitor
HARBINGER_TEST_IPMI_SIM_PASSWORD=monitor
OUT
