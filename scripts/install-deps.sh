#!/usr/bin/env bash
# Installs the Debian 12 packages etch needs to build and test.
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail
packages=(
  build-essential cmake flex bison libcriterion-dev
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev libonnx-testdata
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  llvm-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "etch: all build dependencies are installed"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "etch: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "etch: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
