"""Retake docs/class-colours-project.png and docs/class-colours-no-project.png: one class in
one colour across the Library, Train's confusion matrix, Classify's bars and Explore's map.

Run: QT_QPA_PLATFORM=offscreen python docs/class_colours_screenshot.py DATA [--per-class N]
(DATA: a folder of class folders; the pictures used /work/shared/data/gz-spiral/train, whose
folders `non_spirals/` and `spirals/` a model lists in that order). N images of each class are
copied aside, a small model is trained on them, and each panel is driven as a user drives it.
The project picture opens a project whose scheme says `spiral`, `non-spiral`: the other order
and spelling, so its colours and keys follow the project, not the folders.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
from PySide6.QtWidgets import QApplication
from screenshot_waits import settle, wait_until

from galaxy_studio.gui.app import application
from galaxy_studio.gui.main_window import MainWindow
from galaxy_studio.labels.schemes import ClassScheme
from galaxy_studio.model.config import TrainConfig
from galaxy_studio.model.training import TrainResult, train_classifier

PART_WIDTH, PART_HEIGHT, GAP = 720, 330, 10
CAPTION_HEIGHT = 26


def copy_subset(data: Path, out: Path, per_class: int) -> Path:
    for folder in sorted(path for path in data.iterdir() if path.is_dir()):
        (out / folder.name).mkdir(parents=True)
        for image in sorted(folder.glob("*.jpg"))[:per_class]:
            shutil.copy(image, out / folder.name / image.name)
    return out


def composite(parts: list[tuple[str, QPixmap]], out: str) -> bool:
    """The grabbed widgets in two columns, each under its caption, none enlarged."""
    scaled = [
        (
            caption,
            grabbed.scaled(
                min(grabbed.width(), PART_WIDTH),
                min(grabbed.height(), PART_HEIGHT),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            ),
        )
        for caption, grabbed in parts
    ]
    heights = [0, 0]
    placed = []
    for caption, pixmap in scaled:
        column = heights.index(min(heights))
        placed.append((caption, pixmap, column * (PART_WIDTH + GAP) + GAP, heights[column] + GAP))
        heights[column] += pixmap.height() + CAPTION_HEIGHT + GAP
    picture = QPixmap(2 * (PART_WIDTH + GAP) + GAP, max(heights) + GAP)
    picture.fill(QColor(24, 25, 29))
    painter = QPainter(picture)
    font = QFont(QApplication.font())
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor(226, 228, 234))
    for caption, pixmap, left, top in placed:
        painter.drawText(left, top + 16, caption)
        painter.drawPixmap(QPoint(left, top + CAPTION_HEIGHT), pixmap)
    painter.end()
    return picture.save(out)


def take(app: QApplication, window: MainWindow, explored: Path, run: TrainResult, images: list[str], out: str) -> bool:
    """Fill Train, Classify and Explore (the Library already shows the data or project) and
    grab each tab while it is on screen."""
    window.train.results.show_confusion(run.metrics)
    classify = window.classify
    classify.classify_paths(images)
    wait_until(app, lambda: classify.table.rowCount() >= len(images) and not classify.jobs.running, "classifying")
    classify.table.selectRow(0)
    wait_until(app, lambda: not classify.explainer.running, "the explanation")
    explore = window.explore
    explore.data_edit.setText(str(explored))
    explore.source.device.setCurrentText("cpu")
    explore.compute_button.click()
    wait_until(app, lambda: explore.embeddings is not None and not explore.jobs.running, "the map")
    parts: list[tuple[str, QPixmap]] = []
    library = window.library
    for caption, tab, widget in (
        ("Library: badges", library, library.grid),
        ("Library: labelling legend (a project's only)", library, library.legend),
        ("Train: confusion matrix", window.train, window.train.results.confusion),
        ("Classify: predicted dots", classify, classify.table),
        ("Classify: probability bars and Add as", classify, classify.viewer.bars.parentWidget()),
        ("Explore: map, legend and Label as", explore, explore.map_area.parentWidget()),
    ):
        window.tabs.setCurrentWidget(tab)
        settle(app)
        if widget.isVisible():
            parts.append((caption, widget.grab()))
    return composite(parts, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--out-dir", default=str(Path(__file__).parent))
    args = parser.parse_args()
    app = application()
    work = Path(tempfile.mkdtemp(prefix="class-colours-"))
    data = copy_subset(Path(args.data), work / "data", args.per_class)
    run = train_classifier(
        TrainConfig(data=str(data), out_dir=str(work / "run"), size=48, epochs=4, batch_size=16, width=16, device="cpu")
    )
    folders = sorted(data.iterdir())
    before, after = ([str(sorted(folder.glob("*.jpg"))[end]) for folder in folders] for end in (-1, -2))
    window = MainWindow()
    window.resize(1200, 760)
    window.show()
    window.classify.add_checkpoint(run.checkpoint)
    window.explore.add_checkpoint(run.checkpoint)
    out_dir = Path(args.out_dir)
    window.library.open_paths([str(data)], replace=True)
    wait_until(app, lambda: window.library.model.rowCount() > 0, "the Library")
    saved = take(app, window, data, run, before, str(out_dir / "class-colours-no-project.png"))
    items = list(window.library.catalog.items)
    project = window.session.create(work / "spiral.gsproj", ClassScheme("spiral", ("spiral", "non-spiral")))
    project.add_items(items)
    window.session.changed_outside()
    wait_until(app, lambda: window.library.model.rowCount() > 0, "the project in the Library")
    explored = work / "spiral.gsproj"
    saved = take(app, window, explored, run, after, str(out_dir / "class-colours-project.png")) and saved
    window.classify.shutdown()
    window.explore.shutdown()
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main())
