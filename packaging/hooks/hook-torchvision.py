"""PyInstaller hook for torchvision >= 0.29.

torchvision 0.29 keeps its C++ operators in `_C_stable.so` and its image codecs in
`image_stable.so`, loaded by path through `torch.ops.load_library`, so the import graph never
sees them and the stock hook (which names `torchvision._C`) misses both: a bundle then fails
with "operator torchvision::nms does not exist". Every shared library of the package is
collected where torchvision looks for it, together with the auditwheel-vendored libraries in
`torchvision.libs` that the operators' RPATH ($ORIGIN/../torchvision.libs) points at.
"""

from pathlib import Path

from PyInstaller.utils.hooks import get_package_paths

_site, _package = get_package_paths("torchvision")
_libs = Path(_site) / "torchvision.libs"

binaries = [
    (str(library), str(library.parent.relative_to(_site)))
    for folder in (Path(_package), _libs)
    if folder.is_dir()
    for library in sorted(folder.rglob("*.so*")) + sorted(folder.rglob("*.pyd")) + sorted(folder.rglob("*.dylib"))
]

# TorchScript compiles some torchvision functions from their source, so keep the .py files.
module_collection_mode = "pyz+py"
