"""The session's project as the Library shows it: its images in order, one badge per image,
the legend's counts and how far the labellers agree.

It follows the session: a project opened or closed, labels changed anywhere (a key here, a
batch in Explore, an undo), or another labeller chosen, and the grid shows it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from galaxy_studio.count_text import counted
from galaxy_studio.gui.session_signals import SessionSignals
from galaxy_studio.labels.consensus import counted_label
from galaxy_studio.labels.store import Suggestion

if TYPE_CHECKING:
    from galaxy_studio.gui.panels.library_panel import LibraryPanel

STATS_DELAY_MS = 400


class LibraryProject(QObject):
    """Which grid key is which project image, which of them the labeller has labelled, and
    the models' suggestions, kept in step with the session."""

    status = Signal(str)

    def __init__(self, panel: LibraryPanel, signals: SessionSignals) -> None:
        super().__init__(panel)
        self.panel = panel
        self.session = signals.session
        self.image_ids: list[int] = []
        self.key_of_id: dict[int, int] = {}
        self.mine: set[int] = set()
        self.suggestions: dict[int, Suggestion] = {}
        self.uncertain_first = False
        self._summary_text = ""
        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(STATS_DELAY_MS)
        self._stats_timer.timeout.connect(self.refresh_summary)
        signals.project_changed.connect(self._on_project_changed)
        signals.labels_changed.connect(self._on_labels_changed)
        signals.classes_changed.connect(self.reload)
        signals.labeller_changed.connect(self.reload)

    def _on_project_changed(self) -> None:
        self.reload()
        self._go_to_first_unlabelled()

    def _go_to_first_unlabelled(self) -> None:
        """Resume where the labeller stopped: the first image without their label."""
        model = self.panel.model
        for row in range(model.rowCount()):
            if model.key_at(row) not in self.mine:
                self.panel.select_row(row)
                return

    def reload(self) -> None:
        """Rebuild the library from the project: images, labels, legend."""
        panel = self.panel
        project = self.session.project
        if project is None:
            self.image_ids, self.key_of_id, self.mine, self.suggestions = [], {}, set(), {}
            panel.legend.hide()
            panel.show_order_choice(False)
            return
        records = project.images()
        self.suggestions = project.suggestions()
        if self.uncertain_first:
            position = {image_id: rank for rank, image_id in enumerate(project.most_uncertain_first())}
            records.sort(key=lambda record: position.get(record.id, len(position)))
        self.image_ids = [record.id for record in records]
        self.key_of_id = {image_id: key for key, image_id in enumerate(self.image_ids)}
        shown = self._shown_labels()
        classes = project.classes
        panel.show_project_items([record.item() for record in records], classes, shown)
        panel.legend.set_classes(self.session.class_styles(classes))
        panel.legend.show()
        panel.show_order_choice(True)
        missing = sum(1 for record in records if record.missing)
        if missing:
            self.status.emit(
                f"{counted(missing, 'image')} of the project {'is' if missing == 1 else 'are'} missing on disk: "
                "Project → Relink"
            )
        self.refresh_counts()
        self.refresh_summary()

    def _shown_labels(self) -> dict[int, str]:
        """Badges show the label that counts for the labeller, a model's included."""
        project = self.session.project
        assert project is not None
        labeller = self.session.labeller
        counted = project.counted_labels(labeller, model_labels_count=True)
        self.mine = {self.key_of_id[i] for i in project.labels(labeller) if i in self.key_of_id}
        return {self.key_of_id[i]: r.class_name for i, r in counted.items() if i in self.key_of_id}

    def _on_labels_changed(self, image_ids: frozenset[int] | None) -> None:
        """A few images' badges are updated in place; anything else (new images, a whole
        project's worth) rebuilds the library."""
        project = self.session.project
        if project is None:
            return
        if image_ids is None or not image_ids <= self.key_of_id.keys():
            self.reload()
            return
        labeller = self.session.labeller
        for image_id in image_ids:
            key = self.key_of_id[image_id]
            records = project.labels_for_image(image_id)
            shown = counted_label(records, labeller=labeller, model_labels_count=True)
            if any(record.labeller == labeller for record in records):
                self.mine.add(key)
            else:
                self.mine.discard(key)
            self.panel.model.set_label(key, shown.class_name if shown is not None else None)
        self.refresh_counts()
        self.panel.refresh_title()

    def set_uncertain_first(self, uncertain_first: bool) -> None:
        """Order the images by the model's uncertainty (highest entropy first), or as added."""
        self.uncertain_first = uncertain_first
        if self.session.project is not None:
            self.reload()
            self._go_to_first_unlabelled()

    # Counts ----------------------------------------------------------------------------

    def refresh_counts(self) -> None:
        if self.session.project is None:
            return
        counts = Counter(self.panel.model.labels.values())
        total = len(self.image_ids)
        self.panel.legend.set_counts(dict(counts), len(self.panel.model.labels), total, self._summary_text)
        self._stats_timer.start()

    def refresh_summary(self) -> None:
        """Agreement needs every labeller's labels: computed a moment after the last key."""
        project = self.session.project
        if project is None:
            return
        stats = project.stats()
        parts = [f"labeller: {self.session.labeller}", f"mine: {len(self.mine)}"]
        if len(stats.labellers) > 1:
            parts.append(f"{len(stats.labellers)} labellers")
            parts.append(f"{stats.disagreements} disagreements")
            if stats.agreement is not None:
                parts.append(f"agreement {stats.agreement:.0%}")
        self._summary_text = " · ".join(parts)
        self.panel.legend.summary.setText(self._summary_text)

    def disagreement_keys(self) -> set[int]:
        project = self.session.project
        if project is None:
            return set()
        return {self.key_of_id[i] for i in project.disagreements() if i in self.key_of_id}

    def describe_labels(self, key: int) -> str:
        """Every labeller's label of one image, flagged when they disagree."""
        project = self.session.project
        if project is None or key >= len(self.image_ids):
            return ""
        records = project.labels_for_image(self.image_ids[key])
        suggestion = self.suggestions.get(self.image_ids[key])
        hint = ""
        if suggestion is not None and key not in self.mine:
            hint = (
                f"  · model suggests <b>{suggestion.class_name}</b> ({suggestion.confidence:.0%}, "
                f"entropy {suggestion.entropy:.2f}; Enter accepts)"
            )
        if not records:
            return "unlabelled" + hint
        text = ", ".join(
            f"{r.labeller}: {r.class_name}" + (f" ({r.source})" if r.source != "human" else "") for r in records
        )
        humans = {r.class_name for r in records if r.source == "human"}
        return text + ("  ⚠ labellers disagree" if len(humans) > 1 else "") + hint
