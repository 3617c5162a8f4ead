#!/usr/bin/env bash
# Runs Komar's whole test suite on a fresh machine: installs what the tests
# need (Debian's mosquitto broker and clients, used as the reference and as
# independent clients), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || need_apt+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}"
fi

cargo test --workspace --locked "$@"

# The client tools' byte-for-byte comparisons with mosquitto_pub/sub/rr ran
# above against Debian's mosquitto broker; run them again against Komar's.
KOMAR_TOOLS_BROKER="$PWD/target/debug/komar" cargo test --locked -p komar-tools --test compare "$@"
