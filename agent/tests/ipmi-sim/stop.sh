#!/usr/bin/env bash
# Stops the simulator start.sh started for IPMI_SIM_PORT (only that pid).
set -euo pipefail
port="${IPMI_SIM_PORT:-9723}"
run="${IPMI_SIM_RUN_DIR:-/tmp/harbinger-ipmi-sim-$port}"
if [ -s "$run/pid" ]; then
    pid="$(cat "$run/pid")"
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    rm -f "$run/pid"
fi
