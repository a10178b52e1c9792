#!/usr/bin/env bash
# Galaxy Studio's SAMP against the real SAOImage DS9 and TOPCAT (Debian packages saods9 and
# topcat), on a virtual X server. Not part of CI: Java and Tk take minutes to install.
# Installs what is missing (needs root and apt-get), then runs samp_ds9_topcat.py, which
# checks each step and writes screenshots into docs/ (or the folder given as $1).
#
#   bash tests/integration/samp_ds9_topcat.sh [OUT_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-docs}"

# What the script drives: the programs, an X server, xdotool to click in TOPCAT, ImageMagick's
# `import` for screenshots, and the X libraries Qt's xcb plugin needs to show Galaxy Studio.
packages=(saods9 topcat aladin xvfb xdotool imagemagick x11-utils libxcb-cursor0 libxcb-icccm4
          libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-xkb1 libxkbcommon-x11-0
          libxcb-shape0 libxcb-xinerama0 libxcb-randr0)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
fi

display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 2200x1000x24 -nolisten tcp &
xvfb=$!
trap 'kill "$xvfb"' EXIT
sleep 2
DISPLAY="$display" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python tests/integration/samp_ds9_topcat.py --out "$out"
