; Inno Setup script for Galaxy Studio; packaging\windows\build.ps1 passes the defines:
;   iscc /DAppVersion=0.1.0 /DVariant=cpu /DBundleDir=...\build\dist-cpu\galaxy-studio galaxy-studio.iss
; Installs the PyInstaller bundle per user (no administrator rights) or for all users,
; a Start menu entry, an optional desktop icon and "Open with" for FITS files.

#ifndef AppVersion
  #error Pass /DAppVersion=X.Y.Z
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#ifndef BundleDir
  #error Pass /DBundleDir=path\to\the\PyInstaller\bundle
#endif

[Setup]
AppId={{6F1D8C52-3A7B-4E0F-9B52-4C1E2A7D9F31}
AppName=Galaxy Studio
AppVersion={#AppVersion}
AppVerName=Galaxy Studio {#AppVersion} ({#Variant})
AppPublisher=Galaxy Studio developers
DefaultDirName={autopf}\Galaxy Studio
DefaultGroupName=Galaxy Studio
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=out
OutputBaseFilename=GalaxyStudio-{#AppVersion}-{#Variant}-setup
SetupIconFile=..\..\resources\galaxy-studio.ico
UninstallDisplayIcon={app}\galaxy-studio.exe
Compression=lzma2/fast
SolidCompression=no
ChangesAssociations=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "fitsassoc"; Description: "Offer Galaxy Studio in ""Open with"" for FITS files (.fits, .fit, .fts)"; GroupDescription: "File types:"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Galaxy Studio"; Filename: "{app}\galaxy-studio.exe"
Name: "{group}\Uninstall Galaxy Studio"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Galaxy Studio"; Filename: "{app}\galaxy-studio.exe"; Tasks: desktopicon

[Registry]
; "Open with" entries only: an astronomer's default FITS viewer (DS9, ...) stays the default.
Root: HKA; Subkey: "Software\Classes\GalaxyStudio.FITS"; ValueType: string; ValueData: "FITS image"; Flags: uninsdeletekey; Tasks: fitsassoc
Root: HKA; Subkey: "Software\Classes\GalaxyStudio.FITS\DefaultIcon"; ValueType: string; ValueData: "{app}\galaxy-studio.exe,0"; Tasks: fitsassoc
Root: HKA; Subkey: "Software\Classes\GalaxyStudio.FITS\shell\open\command"; ValueType: string; ValueData: """{app}\galaxy-studio.exe"" open ""%1"""; Tasks: fitsassoc
Root: HKA; Subkey: "Software\Classes\.fits\OpenWithProgids"; ValueType: string; ValueName: "GalaxyStudio.FITS"; ValueData: ""; Flags: uninsdeletevalue; Tasks: fitsassoc
Root: HKA; Subkey: "Software\Classes\.fit\OpenWithProgids"; ValueType: string; ValueName: "GalaxyStudio.FITS"; ValueData: ""; Flags: uninsdeletevalue; Tasks: fitsassoc
Root: HKA; Subkey: "Software\Classes\.fts\OpenWithProgids"; ValueType: string; ValueName: "GalaxyStudio.FITS"; ValueData: ""; Flags: uninsdeletevalue; Tasks: fitsassoc

[Run]
Filename: "{app}\galaxy-studio.exe"; Parameters: "--demo"; Description: "Start Galaxy Studio with the demo set"; Flags: nowait postinstall skipifsilent
