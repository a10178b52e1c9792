"""The Train panel's results: the test metrics of a run (or the pooled ones of a
cross-validation) beside its confusion matrix and reliability diagram."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QScrollArea, QWidget

from galaxy_studio.gui.panels.cross_validation_report import describe_cross_validation
from galaxy_studio.gui.text_styles import WARNING_STYLE
from galaxy_studio.gui.widgets.confusion_view import ConfusionView
from galaxy_studio.gui.widgets.reliability_plot import ReliabilityPlot
from galaxy_studio.labels.session import LabellingSession
from galaxy_studio.model.calibration import describe_calibration
from galaxy_studio.model.uncertainty import AccuracyEstimate, sample_warnings

if TYPE_CHECKING:
    from galaxy_studio.model.cross_validation_results import CrossValidationResult

RESULTS_TITLE = "Results (test split)"
CV_RESULTS_TITLE = "Results (cross-validation: every labelled image tested once)"


def describe_metrics(metrics: dict) -> str:
    """The test-split metrics as a small HTML table: each accuracy with its number of images and
    95% interval, and above it, in the warning colour, why the numbers may say little."""

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f}%"

    auc = "–" if metrics.get("macro_auc") is None else f"{metrics['macro_auc']:.3f}"
    warnings = metrics.get("warnings", sample_warnings(metrics))
    rows = [f'<tr><td colspan=2 style="{WARNING_STYLE}">⚠ {html.escape(text)}</td></tr>' for text in warnings]
    rows += [
        f"<tr><td>Accuracy</td><td><b>{AccuracyEstimate.of(metrics).text()}</b></td></tr>",
        f"<tr><td>Balanced accuracy</td><td>{pct(metrics.get('balanced_accuracy'))}</td></tr>",
        f"<tr><td>Macro ROC AUC</td><td>{auc}</td></tr>",
        f"<tr><td>Calibration error</td><td>{html.escape(describe_calibration(metrics, brief=True) or '–')}</td></tr>",
        f"<tr><td>Test images</td><td>{metrics.get('n', 'unknown')}</td></tr>",
    ]
    per_class = metrics.get("per_class") or {}
    if per_class:
        rows.append("<tr><td colspan=2><br><b>Class</b> — precision / recall (n, recall's 95% CI)</td></tr>")
        for name, values in per_class.items():
            interval = values.get("recall_ci95")
            spread = "" if interval is None else f", {100 * interval[0]:.0f}–{100 * interval[1]:.0f}%"
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{pct(values.get('precision'))} / {pct(values.get('recall'))}"
                f" ({values.get('support', 0)}{spread})</td></tr>"
            )
    notes = metrics.get("preprocessing_notes") or []
    if notes:
        rows.append("<tr><td colspan=2><br><b>Chosen from the data</b></td></tr>")
        rows += [f"<tr><td colspan=2>{html.escape(note)}</td></tr>" for note in notes]
    return "<table cellspacing=3>" + "".join(rows) + "</table>"


class TrainResultsBox(QGroupBox):
    """Titled after the images its numbers measure: the test split, or every fold."""

    def __init__(self, session: LabellingSession, parent: QWidget | None = None) -> None:
        super().__init__(RESULTS_TITLE, parent)
        self.session = session
        self._confusion_metrics: dict = {}
        self.metrics_label = QLabel("Metrics on the held-out test split appear here when a run ends.")
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confusion = ConfusionView()
        self.reliability = ReliabilityPlot()
        layout = QHBoxLayout(self)
        metrics_scroll = QScrollArea()
        metrics_scroll.setWidgetResizable(True)
        metrics_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        metrics_scroll.setWidget(self.metrics_label)
        layout.addWidget(metrics_scroll, 3)
        layout.addWidget(self.confusion, 3)
        layout.addWidget(self.reliability, 3)

    def clear(self, message: str, title: str) -> None:
        self.metrics_label.setText(message)
        self.show_scope(title)
        self.show_confusion({})

    def show_scope(self, title: str) -> None:
        """Title the box and its diagram after the images they measure."""
        self.setTitle(title)
        self.reliability.set_scope("test split" if title == RESULTS_TITLE else "all folds")

    def show_test_metrics(self, metrics: dict) -> None:
        self.show_scope(RESULTS_TITLE)
        self.metrics_label.setText(describe_metrics(metrics))
        self.show_confusion(metrics)

    def show_cross_validation(self, result: CrossValidationResult) -> None:
        self.show_scope(CV_RESULTS_TITLE)
        self.metrics_label.setText(describe_cross_validation(result))
        self.show_confusion(result.pooled_metrics())

    def show_confusion(self, metrics: dict) -> None:
        """The matrix and reliability diagram of these test metrics (none: empty), the matrix
        in the session's class colours."""
        self._confusion_metrics = metrics
        self.reliability.show_metrics(metrics)
        if metrics.get("confusion"):
            classes = list(metrics["classes"])
            self.confusion.show_matrix(metrics["confusion"], classes, self.session.class_styles(classes))
        else:
            self.confusion.setRowCount(0)

    def recolour(self) -> None:
        """Another project, or its classes changed: the matrix takes their colours and keys."""
        self.show_confusion(self._confusion_metrics)
