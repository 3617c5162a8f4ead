#!/usr/bin/env bash
# Build every komar-proto fuzz target and run each one for a bounded time.
# Exits non-zero if the build fails or any target finds a crash (libFuzzer
# exits non-zero and leaves the input under artifacts/<target>/).
#
# Environment: FUZZ_SECONDS (default 20) per target; CARGO_TARGET_DIR is
# honoured if set.
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, ...).
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "ci-build.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
    exit 1
fi

cargo fuzz build
status=0
for target in $(cargo fuzz list); do
    echo "== fuzzing ${target} for ${seconds}s"
    if ! cargo fuzz run "${target}" -- \
        -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "ci-build.sh: fuzz target ${target} FAILED (see artifacts/${target}/)" >&2
        status=1
    fi
done
exit "${status}"
