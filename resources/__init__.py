"""Icons and other assets, installed as the package galaxy_studio.resources."""

from importlib.resources import files
from pathlib import Path


def resource_path(name: str) -> Path:
    """A file shipped in resources/, wherever the app runs from (source, wheel, bundle)."""
    return Path(str(files(__name__) / name))
