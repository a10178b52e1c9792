"""Galaxy Studio: view, label, train on, distill and classify galaxy cutouts."""

from galaxy_studio.cpu_runtime import configure_cpu_runtime

configure_cpu_runtime()

__version__ = "0.1.0"
