#!/usr/bin/env bash
# Build "Galaxy Studio.app" from the PyInstaller spec (its BUNDLE step) and a .dmg.
#
#   packaging/macos/build_app.sh [cpu]
#
# macOS has one torch build (CPU, with Apple-GPU "mps" support), so there is one variant.
# Needs Python 3.11 and Xcode's command line tools (hdiutil, codesign ship with macOS).
# Makes build/venv-macos, freezes, self-tests the frozen app and writes
# packaging/macos/out/GalaxyStudio-VERSION.dmg. The app is ad-hoc signed only: without a
# Developer ID signature and notarisation, Gatekeeper asks on first launch (right-click ->
# Open). Untested here (the project's CI runs Linux); see packaging/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/packaging/macos/out"
VENV="$ROOT/build/venv-macos"

[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/python" -m pip install "$ROOT[package]"

cd "$ROOT"
GALAXY_STUDIO_VARIANT=cpu "$VENV/bin/python" -m PyInstaller --noconfirm \
    --distpath build/dist-macos --workpath build/pyinstaller-macos packaging/galaxy_studio.spec
APP="build/dist-macos/Galaxy Studio.app"
codesign --force --deep --sign - "$APP"
"$APP/Contents/MacOS/galaxy-studio" --self-test

VERSION="$("$VENV/bin/python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
STAGE="build/dmg"
rm -rf "$STAGE" && mkdir -p "$STAGE" "$OUT"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$OUT/GalaxyStudio-$VERSION.dmg"
hdiutil create -volname "Galaxy Studio" -srcfolder "$STAGE" -fs HFS+ -format UDZO "$OUT/GalaxyStudio-$VERSION.dmg"
rm -rf "$STAGE"
echo "$OUT/GalaxyStudio-$VERSION.dmg"
