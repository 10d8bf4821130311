#!/bin/bash
# Builds training/scene_shard into a self-contained binary (Swift runtime linked statically) for
# GPU training machines that have no Swift toolchain: the scene studio's sources (minus the
# contact sheet, which needs libpng) plus a serial `parallelFor` — a shard renders many scenes at
# once, one per thread, so rows need not be split. FoundationEssentials instead of Foundation
# keeps ICU's data out (14 MB stripped, 5 MB gzipped, instead of 58 MB); the bytes it renders are
# the same as `lumen scenes render`'s.
#   training/build_renderer.sh OUT_BINARY
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build_renderer.sh OUT_BINARY}
work=$(mktemp -d)
rm -f "$out"
for f in "$root"/Sources/LumenScenes/*.swift; do
  [ "$(basename "$f")" = ContactSheet.swift ] && continue
  sed -e '/^import LumenTensor$/d' -e '/^import LumenImageIO$/d' -e 's/^import Foundation$/import FoundationEssentials; import Glibc/' "$f" > "$work/$(basename "$f")"
done
printf 'func parallelFor(_ count: Int, _ body: (Int) -> Void) { for i in 0..<count { body(i) } }\n' > "$work/Serial.swift"
swiftc -O -wmo -static-stdlib -module-name SceneShard -o "$out" "$work"/*.swift "$root/training/scene_shard/main.swift" 2>&1 | grep -v warning || true
rm -rf "$work"
strip "$out"
test -x "$out"
