"""Failures of the model package that the user can act on; the CLI prints them as one line."""

from __future__ import annotations

from galaxy_studio.errors import UserError


class ModelError(UserError):
    """Something about the data, the recipe or the machine stops a training or evaluation run."""


class CheckpointError(ModelError):
    """A checkpoint file cannot be used: missing, damaged, from elsewhere, or unsafe to load."""
