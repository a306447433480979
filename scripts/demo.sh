#!/usr/bin/env bash
# Quick start: build the host (with the bundled PingOne component) and the
# PingOne simulator, start the simulator on loopback with a seeded tenant,
# sync it into demo.c1z, and print a summary and the artifact's stats.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

cargo build --release -p connector-host -p pingone-sim

work=$(mktemp -d)
trap 'kill "$sim_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
./target/release/pingone-sim --seed 42 --ready-file "$work/ready.json" &
sim_pid=$!
for _ in $(seq 1 100); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { echo "the simulator did not start" >&2; exit 1; }

field() { python3 -c "import json,sys; print(json.load(open('$work/ready.json'))['$1'])"; }
export BATON_PINGONE_CLIENT_ID="$(field client_id)"
export BATON_PINGONE_CLIENT_SECRET="$(field client_secret)"
export BATON_PINGONE_ENVIRONMENT_ID="$(field environment_id)"
export BATON_PINGONE_API_URL="$(field api_base_url)"
export BATON_PINGONE_AUTH_URL="$(field auth_base_url)"

rm -f demo.c1z
./target/release/connector-host --file demo.c1z --log-format console
echo
./target/release/connector-host --file demo.c1z inspect stats
