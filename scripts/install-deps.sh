#!/usr/bin/env bash
# Installs the system packages this project needs (Debian 12), only those missing.
# Safe to run repeatedly; used by `make test` and `make demo`.
set -euo pipefail

PKGS=(
  pkg-config build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  meson ninja-build
  icecast2 ffmpeg curl bc
  python3 python3-gi gir1.2-gstreamer-1.0
  gnuplot-nox
  # video: nginx with the RTMP module (scripts/rtmp/start.sh runs its own instance
  # from a generated config; the package's default site is not used), the font the
  # test programme's burnt-in clock is drawn with
  nginx libnginx-mod-rtmp fonts-dejavu-core
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
}
# apt can fail once when it upgrades systemd on these machines: retry once.
apt_install || { sleep 5; apt_install; }
