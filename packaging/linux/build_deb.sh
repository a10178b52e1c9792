#!/usr/bin/env bash
# Build the one-folder bundle with PyInstaller and wrap it in a .deb.
#
#   packaging/linux/build_deb.sh [--variant cpu|cuda] [--python PYTHON] [--bundle DIR]
#                                [--compress zstd|xz|gzip|none]
#
# --variant  which torch the bundle carries; it must be the torch installed in PYTHON
#            (default: whichever that is). See packaging/README.md for a CPU build Python.
# --python   the Python whose site-packages are frozen (default: python3); it needs the
#            app's dependencies and pyinstaller (pip install ".[package]").
# --bundle   package an existing bundle folder instead of building one.
# --compress the .deb's compressor (default zstd: a 4 GB CUDA bundle takes minutes with
#            zstd and most of an hour with xz on two cores; dpkg >= 1.21.18 reads zstd).
#
# Writes packaging/linux/out/galaxy-studio[-cuda]_VERSION_ARCH.deb and prints its path last.
# The package installs the bundle under /opt/galaxy-studio, a /usr/bin/galaxy-studio
# wrapper, a .desktop entry with the icon, and the FITS MIME type. It has no maintainer
# scripts: dpkg's triggers refresh the desktop, MIME and icon caches.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/packaging/linux/out"
PYTHON=python3
VARIANT=""
BUNDLE=""
COMPRESS=zstd

while [ $# -gt 0 ]; do
    case "$1" in
        --variant) VARIANT="$2"; shift 2 ;;
        --python) PYTHON="$2"; shift 2 ;;
        --bundle) BUNDLE="$2"; shift 2 ;;
        --compress) COMPRESS="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "build_deb.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

INSTALLED="$("$PYTHON" -c 'import torch; print("cpu" if torch.version.cuda is None else "cuda")')"
VARIANT="${VARIANT:-$INSTALLED}"
case "$VARIANT" in
    cpu) PACKAGE=galaxy-studio; OTHER=galaxy-studio-cuda ;;
    cuda) PACKAGE=galaxy-studio-cuda; OTHER=galaxy-studio ;;
    *) echo "build_deb.sh: --variant must be cpu or cuda, not $VARIANT" >&2; exit 2 ;;
esac
VERSION="$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml")"
ARCH="$(dpkg --print-architecture)"

if [ -z "$BUNDLE" ]; then
    echo "== bundle ($VARIANT, $("$PYTHON" -c 'import torch; print("torch", torch.__version__)'))"
    start=$SECONDS
    (cd "$ROOT" && GALAXY_STUDIO_VARIANT="$VARIANT" "$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
        --distpath "build/dist-$VARIANT" --workpath "build/pyinstaller-$VARIANT" packaging/galaxy_studio.spec)
    BUNDLE="$ROOT/build/dist-$VARIANT/galaxy-studio"
    echo "bundle built in $((SECONDS - start)) s: $(du -sh "$BUNDLE" | cut -f1) in $BUNDLE"
fi
[ -x "$BUNDLE/galaxy-studio" ] || { echo "build_deb.sh: $BUNDLE/galaxy-studio: no executable bundle there" >&2; exit 1; }

echo "== deb tree"
start=$SECONDS
TREE="$ROOT/build/deb-$VARIANT"
rm -rf "$TREE"
mkdir -p "$TREE/DEBIAN" "$TREE/opt" "$TREE/usr/bin" "$TREE/usr/share/applications" \
    "$TREE/usr/share/icons/hicolor/256x256/apps" "$TREE/usr/share/icons/hicolor/scalable/apps" \
    "$TREE/usr/share/mime/packages" "$TREE/usr/share/doc/$PACKAGE"
# Hard links: the bundle is gigabytes and dpkg-deb only reads it.
cp -al "$BUNDLE" "$TREE/opt/galaxy-studio" 2>/dev/null || cp -a "$BUNDLE" "$TREE/opt/galaxy-studio"
# A wrapper rather than a symlink: the bundle finds its libraries next to the real executable.
cat > "$TREE/usr/bin/galaxy-studio" <<'EOF'
#!/bin/sh
exec /opt/galaxy-studio/galaxy-studio "$@"
EOF
chmod 755 "$TREE/usr/bin/galaxy-studio"
install -m 644 "$ROOT/resources/galaxy-studio.desktop" "$TREE/usr/share/applications/galaxy-studio.desktop"
install -m 644 "$ROOT/resources/galaxy-studio.png" "$TREE/usr/share/icons/hicolor/256x256/apps/galaxy-studio.png"
install -m 644 "$ROOT/resources/galaxy-studio.svg" "$TREE/usr/share/icons/hicolor/scalable/apps/galaxy-studio.svg"
install -m 644 "$ROOT/resources/galaxy-studio-mime.xml" "$TREE/usr/share/mime/packages/galaxy-studio.xml"
cat > "$TREE/usr/share/doc/$PACKAGE/copyright" <<EOF
Galaxy Studio $VERSION, BSD-3-Clause. The bundle under /opt/galaxy-studio also carries
Python, PySide6/Qt (LGPLv3), PyTorch and torchvision (BSD-3-Clause), NumPy, astropy,
h5py, Pillow, pyqtgraph and platformdirs under their own licences$( [ "$VARIANT" = cuda ] && echo ",
and the NVIDIA CUDA runtime libraries under the NVIDIA software licence" ).
EOF

# The bundled Python and libraries are linked against this machine's C library, so the
# package needs at least that glibc (build on the oldest distribution you want to serve);
# then the Qt runtime the bundled PySide6 loads from the system (xcb platform, EGL/GL, fonts).
GLIBC="$(getconf GNU_LIBC_VERSION | awk '{print $2}')"
DEPENDS="libc6 (>= $GLIBC), libegl1, libgl1, libfontconfig1, libfreetype6, libdbus-1-3,
 libglib2.0-0t64 | libglib2.0-0, libxkbcommon0, libxkbcommon-x11-0, libx11-6, libx11-xcb1,
 libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0,
 libxcb-render0, libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1,
 libxcb-util1, libxcb-xfixes0, libxcb-xinerama0, libxcb-xkb1, libtcmalloc-minimal4"
cat > "$TREE/DEBIAN/control" <<EOF
Package: $PACKAGE
Version: $VERSION
Architecture: $ARCH
Maintainer: ${DEB_MAINTAINER:-Galaxy Studio developers}
Installed-Size: $(du -sk --exclude=DEBIAN "$TREE" | cut -f1)
Depends: $(echo $DEPENDS)
Conflicts: $OTHER
Replaces: $OTHER
Section: science
Priority: optional
Description: desktop studio for galaxy cutouts ($VARIANT build)
 View FITS, JPEG/PNG and Galaxy10 HDF5 cutouts with astronomical stretches,
 label them, train classifiers and distil data sets. Self-contained bundle
 of Python, Qt and PyTorch ($VARIANT) under /opt/galaxy-studio.
EOF

mkdir -p "$OUT"
DEB="$OUT/${PACKAGE}_${VERSION}_${ARCH}.deb"
case "$COMPRESS" in
    zstd) FLAGS=(-Zzstd -z3) ;;
    xz) FLAGS=(-Zxz -z6) ;;
    gzip) FLAGS=(-Zgzip -z6) ;;
    none) FLAGS=(-Znone) ;;
    *) echo "build_deb.sh: --compress must be zstd, xz, gzip or none" >&2; exit 2 ;;
esac
echo "== dpkg-deb ($COMPRESS)"
dpkg-deb --root-owner-group "${FLAGS[@]}" --build "$TREE" "$DEB" >/dev/null
rm -rf "$TREE"
echo "deb built in $((SECONDS - start)) s: $(du -h "$DEB" | cut -f1), installs $(dpkg-deb -f "$DEB" Installed-Size) KiB"
echo "$DEB"
