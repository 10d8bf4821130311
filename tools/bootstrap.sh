#!/usr/bin/env bash
# Installs the Debian packages Lumen builds against (OpenBLAS, oneDNN, libpng + zlib, TurboJPEG, libwebp, SQLite, pkg-config).
# Swift 6 itself is expected on PATH (swift.org toolchain).
set -euo pipefail
packages=(libopenblas-dev libdnnl-dev libpng-dev zlib1g-dev libturbojpeg0-dev libwebp-dev libsqlite3-dev pkg-config)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
command -v swift >/dev/null || { echo "error: swift not found on PATH (install Swift 6 from swift.org)" >&2; exit 1; }
