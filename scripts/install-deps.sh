#!/usr/bin/env bash
# Install the Debian packages vcluster's build and tests need, if any are missing.
# Idempotent; a no-op when everything is present. Needs root (or sudo) only when it installs.
set -euo pipefail

PACKAGES=(python3-venv python3-dev gcc)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Python that already has venv and headers (pyenv, a source build) needs no Debian packages.
if ((${#missing[@]})) && python3 -c 'import venv, ensurepip, sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' 2>/dev/null; then
  missing=()
fi
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
