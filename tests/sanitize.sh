#!/usr/bin/env bash
# Sanitizer builds and fuzzing (tests/README.md, "Fuzzing and sanitizers"):
#   bash tests/sanitize.sh            all of it: build, asan (tsan alongside), fuzz (tests/run.sh runs this)
#   bash tests/sanitize.sh build      configure and build both sanitizer build directories
#   bash tests/sanitize.sh asan       the unit tests (datalith_tests, datalith_sync_tests) under ASan+UBSan
#   bash tests/sanitize.sh tsan       the sync server's multi-threaded tests under TSan
#   bash tests/sanitize.sh fuzz [T…]  each fuzz target (or the named ones) for FUZZ_SECONDS
# A long fuzzing run is one command: FUZZ_SECONDS=600 bash tests/sanitize.sh fuzz
#
# Clang 16 from Debian (clang-16, libclang-rt-16-dev; .ci/install-deps.sh). Build
# directories: build-fuzz (ASan+UBSan, libFuzzer; the unit tests and the fuzzers) and
# build-tsan (TSan; only datalith_sync_tests). Fuzzers start from the seed corpora in
# tests/fuzz/corpus/<target>/ and keep what they find in build-fuzz/fuzz-corpus/<target>/
# (never in the repository); a crash is written to build-fuzz/fuzz-crashes/ and makes
# the script fail after every target has run.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
TSAN_BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
SAN_CC=${SAN_CC:-clang-16}
SAN_CXX=${SAN_CXX:-clang++-16}
# -O1 keeps the sanitized tests fast enough; line tables are all a stack trace needs
# and cost far less to compile than full debug info (SAN_FLAGS="-O1 -g" for a debugger).
SAN_FLAGS=${SAN_FLAGS:-"-O1 -gline-tables-only"}
FUZZ_TARGETS=(edn json_tx query tx value node commit protocol client_sync)

# Stack traces: llvm-symbolizer if there is one, else addr2line (binutils).
symbolizer=$(command -v llvm-symbolizer-16 || command -v llvm-symbolizer || true)
if [ -n "$symbolizer" ]; then
  export ASAN_SYMBOLIZER_PATH="$symbolizer" TSAN_SYMBOLIZER_PATH="$symbolizer"
  export UBSAN_SYMBOLIZER_PATH="$symbolizer"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-"allow_addr2line=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-"allow_addr2line=1:print_stacktrace=1:halt_on_error=1"}
export TSAN_OPTIONS=${TSAN_OPTIONS:-"allow_addr2line=1:halt_on_error=1:second_deadlock_stack=1"}

stage_start=0
stage() { stage_start=$(date +%s); echo "== sanitize: $*"; }
stage_done() { echo "== sanitize: $1 took $(( $(date +%s) - stage_start )) s"; }

configure() {  # DIR OPTION
  # Debug: asserts stay on; the flags above replace CMake's -g -O0.
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER="$SAN_CC" \
    -DCMAKE_CXX_COMPILER="$SAN_CXX" -DCMAKE_C_FLAGS_DEBUG="$SAN_FLAGS" \
    -DCMAKE_CXX_FLAGS_DEBUG="$SAN_FLAGS" -DDATALITH_BENCH=OFF "-D$2=ON" >/dev/null
}

build_asan() {
  stage "build $FUZZ_BUILD_DIR (ASan+UBSan: unit tests, fuzzers)"
  configure "$FUZZ_BUILD_DIR" DATALITH_FUZZ
  cmake --build "$FUZZ_BUILD_DIR" -j2 --target datalith_tests datalith_sync_tests datalith_fuzzers
  stage_done build-asan
}

build_tsan() {
  stage "build $TSAN_BUILD_DIR (TSan: datalith_sync_tests)"
  configure "$TSAN_BUILD_DIR" DATALITH_TSAN
  cmake --build "$TSAN_BUILD_DIR" -j2 --target datalith_sync_tests
  stage_done build-tsan
}

asan() {
  stage "unit tests under ASan+UBSan"
  # Four processes on two cores: the core tests in two halves (the storage, crash and
  # model tests, which wait on fsync, and the rest), the sync tests, and the Postgres
  # store's tests (which mostly wait on Postgres).
  local logs=() pids=() rcs=() failed=0
  run() {  # LOG BINARY [TEST SPEC]
    logs+=("$1")
    "${@:2}" >"$1" 2>&1 &
    pids+=($!)
  }
  run "$FUZZ_BUILD_DIR/asan-core-db.log" "$FUZZ_BUILD_DIR/datalith_tests" "[db],[tx],[storage]"
  run "$FUZZ_BUILD_DIR/asan-core-rest.log" "$FUZZ_BUILD_DIR/datalith_tests" "~[db]~[tx]~[storage]~[.postgres]"
  run "$FUZZ_BUILD_DIR/asan-sync.log" "$FUZZ_BUILD_DIR/datalith_sync_tests"
  # The Postgres store, on a throwaway cluster of its own (tests/support/postgres.sh).
  run "$FUZZ_BUILD_DIR/asan-postgres.log" bash tests/support/postgres.sh run "$FUZZ_BUILD_DIR/datalith_tests" "[.postgres]"
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      failed=1
      cat "${logs[$i]}"
    fi
  done
  tail -q -n 2 "${logs[@]}" | grep -v '^$' || true
  if ((failed)); then
    echo "sanitize: the unit tests failed under ASan+UBSan" >&2
    return 1
  fi
  stage_done asan-tests
}

tsan() {
  stage "sync server tests under TSan"
  # Every sync test: the ClientSync cases run the database's writer thread and group
  # commit against the session thread, the group commit case submits from 8 threads.
  "$TSAN_BUILD_DIR/datalith_sync_tests"
  stage_done tsan-tests
}

# Runs one fuzz target for FUZZ_SECONDS; its exit status is in $FUZZ_BUILD_DIR/fuzz-$1.rc.
fuzz_one() {
  local t=$1 bin="$FUZZ_BUILD_DIR/fuzz/fuzz_$1" work="$FUZZ_BUILD_DIR/fuzz-corpus/$1"
  mkdir -p "$work"
  local args=(-max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -max_len=4096
    -print_final_stats=1 -artifact_prefix="$FUZZ_BUILD_DIR/fuzz-crashes/$t-")
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  # New inputs go to the first directory only: the seeds in the repository stay as they are.
  local rc=0
  "$bin" "${args[@]}" "$work" "tests/fuzz/corpus/$t" >"$FUZZ_BUILD_DIR/fuzz-$t.log" 2>&1 || rc=$?
  echo "$rc" >"$FUZZ_BUILD_DIR/fuzz-$t.rc"
}

fuzz() {
  local targets=("$@")
  ((${#targets[@]})) || targets=("${FUZZ_TARGETS[@]}")
  stage "fuzzing ${targets[*]}: $FUZZ_SECONDS s each, two at a time"
  mkdir -p "$FUZZ_BUILD_DIR/fuzz-crashes"
  local running=0 failed=()
  for t in "${targets[@]}"; do
    if ((running == 2)); then
      wait -n || true
      running=$((running - 1))
    fi
    fuzz_one "$t" &
    running=$((running + 1))
  done
  wait || true
  for t in "${targets[@]}"; do
    local log="$FUZZ_BUILD_DIR/fuzz-$t.log"
    if [ "$(cat "$FUZZ_BUILD_DIR/fuzz-$t.rc")" = 0 ]; then
      printf '%-12s %10s execs, corpus %s\n' "$t" \
        "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" "$(ls "$FUZZ_BUILD_DIR/fuzz-corpus/$t" | wc -l)"
    else
      failed+=("$t")
      printf '%-12s FAILED, see %s\n' "$t" "$log"
      grep -E -A40 "ERROR: |check failed|runtime error" "$log" | head -60 >&2 || tail -n 40 "$log" >&2
    fi
  done
  stage_done fuzz
  if ((${#failed[@]})); then
    echo "sanitize: fuzz targets failed: ${failed[*]} (inputs in $FUZZ_BUILD_DIR/fuzz-crashes/)" >&2
    return 1
  fi
}

cmd=${1:-all}
shift || true
case "$cmd" in
  build) build_asan && build_tsan ;;
  asan) asan ;;
  tsan) tsan ;;
  fuzz) fuzz "$@" ;;
  all)
    total_start=$(date +%s)
    build_asan
    # The TSan build and its tests alongside the ASan unit tests, which wait on fsync
    # much of the time: two cores stay busy. Its output goes to a log, shown if it fails.
    mkdir -p "$FUZZ_BUILD_DIR"
    tsan_log="$FUZZ_BUILD_DIR/tsan-stage.log"
    (build_tsan && tsan) >"$tsan_log" 2>&1 &
    tsan_pid=$!
    asan_rc=0 tsan_rc=0
    asan || asan_rc=$?
    wait "$tsan_pid" || tsan_rc=$?
    if ((tsan_rc)); then
      cat "$tsan_log"
    else
      grep -E '^== sanitize|passed' "$tsan_log"
    fi
    ((asan_rc || tsan_rc)) && exit 1
    fuzz
    echo "== sanitize: everything took $(( $(date +%s) - total_start )) s"
    ;;
  *) echo "usage: bash tests/sanitize.sh [all|build|asan|tsan|fuzz [target...]]" >&2; exit 2 ;;
esac
