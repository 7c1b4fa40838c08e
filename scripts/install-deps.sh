#!/usr/bin/env bash
# Install the Debian packages vcluster's build and tests need, if any are missing.
# Idempotent; a no-op (and silent) when everything is present. Needs root (or sudo) only when it
# installs.
#
# - Python build: a venv with headers. Skipped when the python3 in use already has both (pyenv, a
#   source build).
# - Real components for tests/integration: Slurm 22.05 (slurmctld, slurmd, the client tools) and
#   munge, started by tests/slurm.py. Debian does not start their services in a container.
set -euo pipefail

PYTHON_PACKAGES=(python3-venv python3-dev gcc)
# pyudev (device-removal events) loads the system libudev.
RUNTIME_PACKAGES=(libudev1)
SERVICE_PACKAGES=(slurmctld slurmd slurm-client munge)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${PYTHON_PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
# A Python that already has venv and headers needs no Debian packages for the build.
if ((${#missing[@]})) && python3 -c 'import venv, ensurepip, sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' 2>/dev/null; then
  missing=()
fi
for p in "${RUNTIME_PACKAGES[@]}" "${SERVICE_PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
