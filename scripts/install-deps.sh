#!/usr/bin/env bash
# The system packages this project needs (Debian 12), by group:
#   build  compiling the workspace (cargo build, clippy) and the meson build
#   test   running it (unit and end-to-end tests, demo, benchmarks): GStreamer
#          plugins, Icecast, encoders, report tools
#
#   install-deps.sh [--check] [GROUP...]   (default: every group)
#
# Asks dpkg once (a few milliseconds) and calls apt-get only for what is missing, so
# it is cheap to run before every build. --check installs nothing: it lists what is
# missing and exits 1 if anything is. The Makefile runs it once per change of this
# file (stamps in target/): `make build` the build group, `make test`/`make demo`
# every group, so a fresh machine gets everything; `make deps` checks again.
set -euo pipefail

BUILD_PKGS=(
  pkg-config build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  meson ninja-build gstreamer1.0-tools
)
TEST_PKGS=(
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  icecast2 ffmpeg curl bc
  python3 python3-gi gir1.2-gstreamer-1.0
  # e2e-stations.sh parses /metrics with the reference Prometheus text parser
  python3-prometheus-client
  gnuplot-nox
  # video: nginx with the RTMP module (scripts/rtmp/start.sh runs its own instance
  # from a generated config; the package's default site is not used), the font the
  # test programme's burnt-in clock is drawn with
  nginx libnginx-mod-rtmp fonts-dejavu-core
)

check=
groups=()
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    build | test) groups+=("$a") ;;
    *) echo "install-deps: unknown argument '$a' (groups: build test; --check)" >&2; exit 2 ;;
  esac
done
[ ${#groups[@]} -eq 0 ] && groups=(build test)

wanted=()
for g in "${groups[@]}"; do
  case "$g" in
    build) wanted+=("${BUILD_PKGS[@]}") ;;
    test) wanted+=("${TEST_PKGS[@]}") ;;
  esac
done

# One dpkg query for all; a package dpkg does not know is missing too.
declare -A installed=()
while read -r status name; do
  [ "$status" = ii ] && installed[${name%%:*}]=1
done < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${wanted[@]}" 2>/dev/null || true)
missing=()
for p in "${wanted[@]}"; do
  [ -n "${installed[$p]:-}" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ -n "$check" ]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi
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
