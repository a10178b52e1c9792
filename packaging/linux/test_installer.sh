#!/usr/bin/env bash
# Prove the .deb works by installing it: dpkg -i, run the installed galaxy-studio
# (--self-test, then --screenshot --demo) under Xvfb with a fresh home folder and no trace
# of the source tree, then purge it and check that nothing is left behind.
#
#   packaging/linux/test_installer.sh [--deb FILE] [build_deb.sh options...]
#
# Without --deb the package is built first with build_deb.sh (given the other options).
# Needs root (dpkg, apt-get). Leaves the screenshot and logs in packaging/linux/out/.
# Exits non-zero if any step fails, the self-test included.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/packaging/linux/out"
DEB=""
BUILD_OPTIONS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --deb) DEB="$(realpath "$2")"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) BUILD_OPTIONS+=("$1"); shift ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "test_installer.sh: needs root for dpkg and apt-get" >&2; exit 1; }
mkdir -p "$OUT"
fail() { echo "test_installer.sh: FAIL: $*" >&2; exit 1; }
step() { echo "== $* ($(date -u +%H:%M:%S))"; }

if [ -z "$DEB" ]; then
    step "build"
    "$ROOT/packaging/linux/build_deb.sh" "${BUILD_OPTIONS[@]}" | tee "$OUT/build.log"
    DEB="$(tail -n 1 "$OUT/build.log")"
fi
[ -f "$DEB" ] || fail "$DEB: no such package"
PACKAGE="$(dpkg-deb -f "$DEB" Package)"

step "system packages: Xvfb and the package's Depends"
export DEBIAN_FRONTEND=noninteractive
# Of each "a | b" alternative install the first this release has (libglib2.0-0t64 or libglib2.0-0).
wanted=(xvfb xauth)
IFS=',' read -ra clauses <<< "$(dpkg-deb -f "$DEB" Depends)"
apt-get update -qq
for clause in "${clauses[@]}"; do
    IFS='|' read -ra alternatives <<< "$clause"
    for alternative in "${alternatives[@]}"; do
        name="$(echo "$alternative" | sed 's/(.*)//' | xargs)"
        candidate="$(apt-cache policy "$name" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then wanted+=("$name"); break; fi
    done
done
apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null

step "install $(basename "$DEB")"
if dpkg -s "$PACKAGE" >/dev/null 2>&1; then dpkg --purge "$PACKAGE" >/dev/null; fi
dpkg -i "$DEB"
for file in /usr/bin/galaxy-studio /usr/share/applications/galaxy-studio.desktop /usr/share/icons/hicolor/256x256/apps/galaxy-studio.png \
            /usr/share/mime/packages/galaxy-studio.xml /opt/galaxy-studio/_internal/galaxy_studio/resources/sample-galaxy.fits; do
    [ -f "$file" ] || fail "$file was not installed"
done
missing="$(find /opt/galaxy-studio -path '*PySide6/Qt/plugins/platforms/libqxcb.so' -exec ldd {} \; | grep 'not found' || true)"
[ -z "$missing" ] || fail "the Qt xcb platform plugin lacks system libraries: $missing"
dpkg-query -L "$PACKAGE" > "$OUT/installed-files.txt"

# Run as a user would: a new home folder, outside the source tree, none of this shell's
# Python settings, a real X server.
RUN_DIR="$(mktemp -d)"
trap 'rm -rf "$RUN_DIR"' EXIT
mkdir -p "$RUN_DIR/home"
installed() {
    (cd "$RUN_DIR" && env -i HOME="$RUN_DIR/home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$@")
}

step "installed galaxy-studio --self-test (Xvfb, xcb)"
status=0
installed QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" galaxy-studio --self-test \
    2>&1 | tee "$OUT/self-test.log" || status=$?
[ "$status" = 0 ] || fail "the installed app failed its self-test (exit $status)"
grep -q "^PASS window: xcb platform" "$OUT/self-test.log" || fail "the window check did not run on the X server"

step "installed galaxy-studio --screenshot --demo (Xvfb)"
SHOT="$OUT/installed-screenshot.png"
rm -f "$SHOT"
installed xvfb-run -a -s "-screen 0 1600x1000x24" galaxy-studio --screenshot "$SHOT" --demo \
    > "$OUT/screenshot.log" 2>&1 || { cat "$OUT/screenshot.log"; fail "the installed app could not take a screenshot"; }
[ -s "$SHOT" ] || fail "no screenshot written"
[ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$SHOT is not a PNG"
[ -d "$RUN_DIR/home/.local/share/galaxy-studio/demo" ] || fail "the demo set was not created in the user's data folder"
echo "screenshot: $SHOT ($(du -h "$SHOT" | cut -f1))"

step "purge"
dpkg --purge "$PACKAGE"
dpkg -s "$PACKAGE" >/dev/null 2>&1 && fail "$PACKAGE is still installed"
left=()
for path in /opt/galaxy-studio /usr/bin/galaxy-studio /usr/share/applications/galaxy-studio.desktop \
            /usr/share/mime/packages/galaxy-studio.xml /usr/share/doc/"$PACKAGE"; do
    [ -e "$path" ] && left+=("$path")
done
while read -r path; do
    if [ -e "$path" ] && [ ! -d "$path" ]; then left+=("$path"); fi
done < "$OUT/installed-files.txt"
[ ${#left[@]} = 0 ] || fail "left behind after purge: ${left[*]}"
echo "installer test passed: installed, self-test and screenshot from the installed copy, purged without a trace"
