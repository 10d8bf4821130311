#!/usr/bin/env bash
# The whole test suite: installs build dependencies, then runs every Swift test.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
swift test 2>&1 | tee /tmp/lumen-test.log
grep -q "Test run with .* passed" /tmp/lumen-test.log
