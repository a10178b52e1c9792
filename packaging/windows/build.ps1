# Build the Windows installer: PyInstaller one-folder bundle, then Inno Setup.
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 [-Variant cpu|cuda]
#
# Needs Python 3.11 (64-bit) and Inno Setup 6 (iscc.exe on PATH or in its default folder).
# It makes a fresh virtual environment in build\venv-<variant> with the chosen torch build:
# cpu from the PyTorch CPU index (about 200 MB of torch), cuda from the CUDA 13.0 index
# (about 2.5 GB). Output: packaging\windows\out\GalaxyStudio-<version>-<variant>-setup.exe
# Untested here (the project's CI runs Linux); see packaging/README.md.
param([ValidateSet("cpu", "cuda")][string]$Variant = "cpu")
$ErrorActionPreference = "Stop"

$Root = Resolve-Path "$PSScriptRoot\..\.."
$Venv = "$Root\build\venv-$Variant"
$Index = @{ cpu = "https://download.pytorch.org/whl/cpu"; cuda = "https://download.pytorch.org/whl/cu130" }[$Variant]

if (-not (Test-Path "$Venv\Scripts\python.exe")) { py -3.11 -m venv $Venv }
$Python = "$Venv\Scripts\python.exe"
& $Python -m pip install --upgrade pip
& $Python -m pip install "torch==2.14.1" "torchvision==0.29.1" --index-url $Index
& $Python -m pip install "$Root[package]"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }

$env:GALAXY_STUDIO_VARIANT = $Variant
Push-Location $Root
try {
    & $Python -m PyInstaller --noconfirm --distpath "build\dist-$Variant" --workpath "build\pyinstaller-$Variant" packaging\galaxy_studio.spec
    if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
    & "build\dist-$Variant\galaxy-studio\galaxy-studio-cli.exe" --self-test
    if ($LASTEXITCODE -ne 0) { throw "the bundle failed its self-test" }

    $Version = & $Python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])"
    $Iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
    if (-not $Iscc) { $Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
    & $Iscc "/DAppVersion=$Version" "/DVariant=$Variant" "/DBundleDir=$Root\build\dist-$Variant\galaxy-studio" packaging\windows\galaxy-studio.iss
    if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
} finally { Pop-Location }
