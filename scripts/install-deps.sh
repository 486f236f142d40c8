#!/usr/bin/env bash
# Installs the Debian packages BagOfTricks needs; skips those already present, so it is safe
# to run every time (CI runs it on a fresh machine).
set -euo pipefail
packages=(libdnnl-dev libturbojpeg0-dev libpng-dev zlib1g-dev dataset-fashion-mnist
          openmpi-bin libopenmpi-dev python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all present (${packages[*]})"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"
