#!/usr/bin/env bash
# The whole test suite: installs what the tests need, runs every Swift test, then checks
# `lumen serve` against real outside tools (the openai client, headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh

# Test-only tools from Debian: Chromium and its WebDriver for the browser test, exiftool for XMP.
test_packages=(chromium chromium-driver python3-venv libimage-exiftool-perl)
missing=()
for p in "${test_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# Uninitialised kernel buffers are filled with NaN, so a kernel that reads memory it did not write
# fails the parity tests instead of passing by luck. Parity is checked in fp32 (LUMEN_BF16=0);
# the bf16 products have tests of their own that switch them on per test.
LUMEN_POISON_SCRATCH=1 LUMEN_BF16=0 swift test 2>&1 | tee /tmp/lumen-test.log
grep -q "Test run with .* passed" /tmp/lumen-test.log

# Outside tools against the release binary (what users run, and what the README builds).
swift build -c release --product lumen
[ -x .venv-test/bin/python ] || python3 -m venv .venv-test
.venv-test/bin/pip install -q --disable-pip-version-check -r interop/requirements.txt
# invisible-watermark declares torch, which its dwtDct decoder never uses.
.venv-test/bin/pip install -q --disable-pip-version-check --no-deps invisible-watermark==0.2.0
(cd interop/server && LUMEN_BIN="$PWD/../../.build/release/lumen" ../../.venv-test/bin/python -m pytest -q -p no:cacheprovider .)
