"""A modal dialog that no test answers fails its test at once instead of hanging the run."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tests.gui.conftest import UnexpectedDialog


def test_a_message_box_fails_the_test_with_its_title_and_text() -> None:
    with pytest.raises(UnexpectedDialog, match=r"QMessageBox.warning .*Training failed \\| disk full"):
        QMessageBox.warning(None, "Training failed", "disk full")


def test_a_dialog_run_with_exec_fails_the_test_with_its_title() -> None:
    box = QMessageBox(QMessageBox.Icon.Warning, "Cannot open", "broken.fits: truncated")
    with pytest.raises(UnexpectedDialog, match="'Cannot open' .*broken.fits: truncated"):
        box.exec()


def test_a_file_dialog_fails_the_test() -> None:
    with pytest.raises(UnexpectedDialog, match="QFileDialog.getOpenFileName"):
        QFileDialog.getOpenFileName(None, "Open a cutout")
