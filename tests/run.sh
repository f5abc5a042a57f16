#!/usr/bin/env bash
# The one test command: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh
if [ ! -d node_modules/datascript ]; then
  npm install --no-audit --no-fund --loglevel=error
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2

# Catch2 cases run as separate ctest tests (catch_discover_tests), two at a time.
ctest --test-dir "$BUILD_DIR" -j2 --output-on-failure --timeout 300
