#!/usr/bin/env bash
# Komar and Debian's Mosquitto side by side, in one invocation: builds Komar
# in release mode, starts both brokers on free loopback ports, and runs
# `komar bench` against them alternately (fan-in, fan-out and pairs at QoS 0
# and 1, after 10,000 idle subscribed connections). Prints each run and a
# summary with Komar/Mosquitto ratios; raw JSON goes to bench/results/.
#
#   bench/compare.sh                 # defaults below
#   ROUNDS=5 COUNT=500000 bench/compare.sh
#
# Mosquitto runs with max_queued_messages 0 (no queue limit) unless
# MOSQUITTO_QUEUE is set: with its default of 1000 it drops most of a fast
# fan-in, and its "deliveries per second" would then measure loss, not
# speed. Komar runs with its defaults (1000, with back-pressure).
#
# The load comes from `komar bench`'s lean engine (one task per connection,
# pipelined writes, acknowledgements batched per read), which costs the
# client far less CPU than a general client would on this shared machine;
# BENCH_ARGS=--general-client drives both brokers through komar-client
# instead (a driver task and channels per connection).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-200000}
CLIENTS=${CLIENTS:-10}
CONNS=${CONNS:-10000}
QOS=${QOS:-0,1}
MOSQUITTO_QUEUE=${MOSQUITTO_QUEUE:-0}
SCENARIOS=${SCENARIOS:-"fanin fanout pairs"}
BENCH_ARGS=${BENCH_ARGS:-}

command -v mosquitto >/dev/null || { echo "mosquitto is not installed (apt-get install mosquitto)" >&2; exit 1; }
cargo build --release -q -p komar
KOMAR=${CARGO_TARGET_DIR:-target}/release/komar

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2; return 1
}

work=$(mktemp -d)
out=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
KPORT=$(free_port); MPORT=$(free_port)
cat > "$work/komar.conf" <<CONF
listener $KPORT 127.0.0.1
allow_anonymous true
user root
CONF
cat > "$work/mosquitto.conf" <<CONF
listener $MPORT 127.0.0.1
allow_anonymous true
user root
max_queued_messages $MOSQUITTO_QUEUE
CONF
"$KOMAR" -c "$work/komar.conf" 2>"$out/komar.log" & KPID=$!
mosquitto -c "$work/mosquitto.conf" 2>"$out/mosquitto.log" & MPID=$!
trap 'kill $KPID $MPID 2>/dev/null || true; rm -rf "$work"' EXIT
wait_port "$KPORT"; wait_port "$MPORT"

targets=(-t "komar=127.0.0.1:$KPORT@$KPID" -t "mosquitto=127.0.0.1:$MPORT@$MPID")
echo "== komar $($KOMAR --version | awk '{print $2}') vs $(mosquitto -h | head -1); $(nproc) cores; $ROUNDS rounds; $COUNT messages per run"
# Connections first, on fresh brokers: RSS growth per connection after a
# throughput run would be hidden by memory the run left allocated.
if [ "$CONNS" -gt 0 ]; then
  "$KOMAR" bench "${targets[@]}" -c "$CONNS" --hold 2 --quiet --json conn > "$out/connections.jsonl"
fi
# shellcheck disable=SC2086
"$KOMAR" bench "${targets[@]}" -q "$QOS" -n "$COUNT" -c "$CLIENTS" --rounds "$ROUNDS" --quiet --json $BENCH_ARGS $SCENARIOS \
  > "$out/throughput.jsonl"
echo "results: $out"
