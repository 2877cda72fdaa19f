#!/usr/bin/env bash
# Installs the Debian packages listed in requirements/apt*.txt that are missing
# (apt.txt: run time; apt-browser.txt: the headless-browser test of the annotation page).
# Runs as root (CI and the dev machines are root); otherwise uses sudo when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(cat requirements/apt*.txt | grep -vE '^\s*(#|$)')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
