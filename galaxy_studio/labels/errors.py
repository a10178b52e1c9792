"""What can go wrong with a project, as messages a user can act on.

Every error names the file it is about (the project, or the file being imported) so that
the CLI can print it as one line and the GUI can show it as it is; what to do about it is
the hint, naming settings by field so that each interface can say it in its own words.
"""

from __future__ import annotations

from pathlib import Path

from galaxy_studio.count_text import counted
from galaxy_studio.errors import UserError


class ProjectError(UserError):
    """A project (or a file read into one) cannot be used as asked; nothing was changed."""

    def __init__(self, path: str | Path, problem: str, hint: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}", hint)


class ProjectDamaged(ProjectError):
    """The file is not a readable project; `backups` (newest first) are what can replace it."""

    def __init__(self, path: str | Path, problem: str, backups: list[Path]) -> None:
        self.backups = list(backups)
        if self.backups:
            hint = (
                f"{counted(len(self.backups), 'automatic backup')}, the newest {self.backups[0]}; "
                "restore one with `galaxy-studio project restore`"
            )
        else:
            hint = "no automatic backup exists"
        super().__init__(path, f"{problem} ({hint})")
        self.problem = problem


class ProjectBusy(ProjectError):
    """Another process kept the project locked for writing longer than the busy timeout."""
