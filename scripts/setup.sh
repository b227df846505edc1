#!/usr/bin/env bash
# One-command setup on a fresh Debian bookworm machine: a .venv with gpusafe and every extra,
# PyTorch's CPU build, and Mesa >= 25 (lavapipe) so the GPU oracle runs the real delegate.
set -euo pipefail
cd "$(dirname "$0")/.."

ICD=/usr/share/vulkan/icd.d/lvp_icd.json
mesa_ok() { [ -f "$ICD" ] && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '^2[5-9]'; }
if ! mesa_ok; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Mesa >= 25 (lavapipe) from bookworm-backports for the GPU oracle"
    SRC=/etc/apt/sources.list.d/debian.sources
    if [ -f "$SRC" ] && ! grep -q bookworm-backports "$SRC"; then
      sed -i 's/^Suites: bookworm bookworm-updates$/Suites: bookworm bookworm-updates bookworm-backports/' "$SRC"
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  else
    echo "== skipping Mesa (needs root and apt): oracle tests will skip"
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# The CPU build of PyTorch first: a plain 'torch' requirement may pull a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[dev,convert,explore]"
echo "== ready: .venv/bin/gpusafe --help"
