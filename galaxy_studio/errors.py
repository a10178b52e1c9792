"""The one base of every error a user can act on: a message and a hint.

The message says what is wrong (naming the file); the hint says what to do. A hint names
the settings it asks the user to change as `{field}` placeholders, with the config field's
name, because the CLI and the GUI call the same setting differently (`--out` there, the
*Output folder* box here): each interface renders the hint with its own namer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Namer = Callable[[str], str]

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def flag_name(field: str) -> str:
    """How the CLI spells a config field: `min_lr_img` -> `--min-lr-img`."""
    return "--" + field.replace("_", "-")


_cli_namer: Namer = flag_name


def name_settings_for_cli(namer: Namer) -> None:
    """Make `namer` the CLI's wording of `str(error)`. The settings module, which knows the
    declared flags (`--crop` for `crop_fraction`), installs its namer when it is imported;
    until then a field is named by `flag_name`."""
    global _cli_namer
    _cli_namer = namer


class UserError(Exception):
    """A problem the user can fix; nothing was changed or lost. `str(error)` is the message
    followed by the hint in the CLI's words, so a plain print stays useful."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def hint_text(self, namer: Namer = flag_name) -> str:
        """The hint with every `{field}` placeholder named by `namer`."""
        return _PLACEHOLDER.sub(lambda match: namer(match.group(1)), self.hint)

    def text(self, namer: Namer = flag_name) -> str:
        """Message and hint as one line for the interface whose namer is given."""
        hint = self.hint_text(namer)
        return f"{self.message}; {hint}" if hint else self.message

    def __str__(self) -> str:
        return self.text(_cli_namer)
