#!/usr/bin/env bash
# Runs Komar's whole test suite on a fresh machine: installs what the tests
# need, then runs every test of the workspace. Each install step is skipped
# when its tool is already there, so a second run starts testing at once.
#   - Debian's mosquitto broker and clients (reference and independent
#     clients); test certificates are made by the tests themselves;
#   - python3 with paho-mqtt 2.x (an independent client over TLS and
#     WebSockets);
#   - Debian's chromium, node/npm and the npm packages of
#     crates/komar/tests/browser (MQTT.js, playwright-core) for the browser
#     test. KOMAR_SKIP_BROWSER=1 skips the browser and its installs (the
#     test then says loudly that it did not run).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo

need_apt=()
command -v mosquitto >/dev/null 2>&1 || need_apt+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ "${KOMAR_SKIP_BROWSER:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
  command -v npm >/dev/null 2>&1 || need_apt+=(npm)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}"
fi

if ! python3 -c 'import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__.startswith("2.") else 1)' 2>/dev/null; then
  python3 -m pip install --quiet 'paho-mqtt==2.*' \
    || python3 -m pip install --quiet --break-system-packages 'paho-mqtt==2.*'
fi
# The MQTT 5 tests (crates/komar/tests/v5_*.rs with their scripts in
# crates/komar/tests/py) are pinned to paho-mqtt 2.2.0.
if ! python3 -c 'import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__ == "2.2.0" else 1)' 2>/dev/null; then
  python3 -m pip install --quiet 'paho-mqtt==2.2.0' \
    || python3 -m pip install --quiet --break-system-packages 'paho-mqtt==2.2.0'
fi

if [ "${KOMAR_SKIP_BROWSER:-0}" != 1 ]; then
  browser=crates/komar/tests/browser
  # npm ci only when the installed packages are not those of the lock file.
  if ! cmp -s "$browser/package-lock.json" "$browser/node_modules/.package-lock.json.komar" 2>/dev/null; then
    (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$browser/package-lock.json" "$browser/node_modules/.package-lock.json.komar"
  fi
fi

cargo test --workspace --locked "$@"
