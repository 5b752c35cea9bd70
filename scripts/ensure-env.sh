#!/usr/bin/env bash
# Makes sure this machine can give Node a WebGPU adapter, installing what a fresh Debian/Ubuntu lacks:
#  - Mesa >= 25 Vulkan drivers (lavapipe, the software driver; Dawn needs features Mesa 22 lacks).
#    On Debian bookworm they come from bookworm-backports, which this script adds as an apt source.
#  - an existing 0700 XDG_RUNTIME_DIR (the Node code makes one itself when the variable is unset).
# On a machine with a GPU and its Vulkan driver, nothing is installed.
set -euo pipefail
have_vk_icd() { ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; }
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
need_mesa=0
if command -v dpkg-query >/dev/null 2>&1; then
  v=$(mesa_version)
  if [ -z "$v" ]; then
    have_vk_icd && ls /usr/share/vulkan/icd.d/ | grep -qv lvp || need_mesa=1
  elif dpkg --compare-versions "$v" lt 25; then need_mesa=1; fi
fi
if [ "$need_mesa" = 1 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  . /etc/os-release
  if [ "${VERSION_CODENAME:-}" = bookworm ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "ensure-env: adding bookworm-backports for Mesa 25 (lavapipe)" >&2
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  echo "ensure-env: installing mesa-vulkan-drivers (software WebGPU through lavapipe)" >&2
  $SUDO apt-get update -qq
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
  else
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers >/dev/null
  fi
fi
