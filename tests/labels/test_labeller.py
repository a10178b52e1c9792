"""The labeller's name: environment, then saved setting, then the user name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from galaxy_studio.labels import labeller
from galaxy_studio.labels.labeller import LABELLER_ENV, default_labeller, set_default_labeller


def test_the_environment_wins_over_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    set_default_labeller("ada")
    monkeypatch.setenv(LABELLER_ENV, "  grace ")
    assert default_labeller() == "grace"
    monkeypatch.setenv(LABELLER_ENV, "  ")
    assert default_labeller() == "ada"


def test_without_either_the_user_name_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LABELLER_ENV, raising=False)
    monkeypatch.setattr(labeller.getpass, "getuser", lambda: "hubble")
    assert default_labeller() == "hubble"


def test_saving_keeps_other_settings_and_replaces_a_damaged_file(
    monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.delenv(LABELLER_ENV, raising=False)
    path = labeller.settings_path()
    assert path.parent == isolated_home / "config"
    path.write_text(json.dumps({"theme": "dark"}))
    set_default_labeller(" ada ")
    assert json.loads(path.read_text()) == {"theme": "dark", "labeller": "ada"}
    assert default_labeller() == "ada"
    path.write_text("{not json")
    monkeypatch.setattr(labeller.getpass, "getuser", lambda: "hubble")
    assert default_labeller() == "hubble"
    set_default_labeller("bob")
    assert json.loads(path.read_text()) == {"labeller": "bob"}
    with pytest.raises(ValueError, match="cannot be empty"):
        set_default_labeller("   ")
    assert list(path.parent.glob("*.partial")) == []
