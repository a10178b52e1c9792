"""Galaxy Studio: view, label, train on, distill and classify galaxy cutouts."""

__version__ = "0.1.0"
