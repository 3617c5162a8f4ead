#!/usr/bin/env bash
# Komar's persistence numbers, in one invocation (release build):
#  1. durable QoS 1 fan-in against in-memory: three brokers side by side —
#     no persistence, `persistence true` (written to the OS before the
#     PUBACK: survives kill -9) and `persistence_sync true` (fsynced before
#     the PUBACK: survives power loss) — driven alternately by
#     `komar bench --persistent` (subscribers with persistent sessions, so
#     every delivery is stored before the publisher's PUBACK);
#  2. restart time with 1,000,000 retained messages and 10,000 persistent
#     sessions (3 subscriptions each): the store is filled by
#     komar-store's `store_bench fill`, then the broker is started on it
#     and timed until it accepts connections;
#  3. store size on disk per retained message.
#
#   bench/persistence.sh
#   ROUNDS=5 COUNT=500000 RETAINED=1000000 SESSIONS=10000 bench/persistence.sh
#   SKIP_FANIN=1 bench/persistence.sh        # restart and size only
#   SKIP_RESTART=1 bench/persistence.sh      # fan-in only
#   CARGO_TARGET_DIR is honoured (default: target).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-200000}
CLIENTS=${CLIENTS:-10}
RETAINED=${RETAINED:-1000000}
SESSIONS=${SESSIONS:-10000}

TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p komar
[ -n "${SKIP_RESTART:-}" ] || cargo build --release -q -p komar-store --example store_bench
KOMAR=$TARGET_DIR/release/komar
FILL=$TARGET_DIR/release/examples/store_bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 2000); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.005
  done
  echo "nothing listens on port $1" >&2; return 1
}

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
out=bench/results/persistence-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

start_broker() { # name extra-config-lines... (sets TARGET)
  local name=$1; shift
  local port; port=$(free_port)
  mkdir -p "$work/$name"
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "user root"
    echo "persistence_location $work/$name/"
    printf '%s\n' "$@"
  } > "$work/$name/komar.conf"
  "$KOMAR" -c "$work/$name/komar.conf" >/dev/null 2>"$out/$name.log" &
  local pid=$!
  pids+=("$pid")
  wait_port "$port"
  TARGET="$name=127.0.0.1:$port@$pid"
}

if [ -z "${SKIP_FANIN:-}" ]; then
echo "== 1. durable QoS 1 fan-in ($CLIENTS publishers → 1 persistent subscriber, $COUNT messages, $ROUNDS rounds)"
start_broker memory; t_mem=$TARGET
start_broker durable "persistence true"; t_os=$TARGET
start_broker fsync "persistence true" "persistence_sync true"; t_sync=$TARGET
"$KOMAR" bench -t "$t_mem" -t "$t_os" -t "$t_sync" -q 1 -c "$CLIENTS" -n "$COUNT" \
  --rounds "$ROUNDS" --persistent --json --quiet fanin > "$out/fanin.json"
python3 - "$out/fanin.json" <<'PY'
import json, sys, statistics
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in runs:
    by.setdefault(r["target"], []).append(r)
def med(name, key):
    return statistics.median(r[key] for r in by[name])
rate = {n: med(n, "msgs_per_sec") for n in by}
for n in by:
    lost = sum(r.get("lost", 0) for r in by[n])
    cpu = med(n, "cpu_s_per_million") if all(r.get("cpu_s_per_million") is not None for r in by[n]) else float("nan")
    print(f"  {n:8s} {rate[n]:>10,.0f} msg/s (median of {len(by[n])}), cpu-s/M {cpu:.2f}, p99 {med(n, 'p99_us'):,.0f} µs, lost {lost}")
for n in ("durable", "fsync"):
    if n in rate and "memory" in rate:
        print(f"  {n} / memory = {rate[n] / rate['memory']:.2f}")
PY
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()

fi

if [ -n "${SKIP_RESTART:-}" ]; then
  echo "results in $out"
  exit 0
fi

echo "== 2. restart with $RETAINED retained messages and $SESSIONS persistent sessions"
mkdir -p "$work/restart"
t0=$(date +%s.%N)
"$FILL" fill "$work/restart/komar.db" "$RETAINED" "$SESSIONS"
t1=$(date +%s.%N)
echo "  store filled in $(python3 -c "print(f'{$t1-$t0:.1f}')") s"
port=$(free_port)
cat > "$work/restart/komar.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location $work/restart/
CONF
for round in 1 2 3; do
  t0=$(date +%s.%N)
  "$KOMAR" -c "$work/restart/komar.conf" >/dev/null 2>"$out/restart-$round.log" &
  pid=$!; pids=("$pid")
  # Listeners are bound before the store is opened (after dropping
  # privileges): ready means restored.
  for _ in $(seq 1 6000); do grep -q Restored "$out/restart-$round.log" && break; sleep 0.005; done
  wait_port "$port"
  t1=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  restored=$(grep -o 'Restored.*' "$out/restart-$round.log" || true)
  echo "  round $round: accepting connections after $(python3 -c "print(f'{$t1-$t0:.2f}')") s, RSS $((rss / 1024)) MB — $restored"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
pids=()
size=$(du -sb "$work/restart/komar.db" | cut -f1)

echo "== 3. store size: $((size / 1000000)) MB for $RETAINED retained messages (64-byte payloads, ~40-byte topics) and $SESSIONS sessions = $((size / RETAINED)) B per retained message"
echo "results in $out"
