"""The tables the Classify and Explore panels send to TOPCAT: rows in the order shown, typed
columns, and the cutout of each row for highlights."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.gui.samp_shown_tables import embedding_map_table, predictions_table
from galaxy_studio.model.classification import Prediction

KEY_ROLE = 256  # Qt.ItemDataRole.UserRole, as the Classify panel stores its keys


def prediction(path: str, predicted: str, probabilities: tuple[float, float]) -> Prediction:
    return Prediction(path, None, probabilities, predicted, max(probabilities), 0.5, 0.1, ood_percentile=40.0)


def test_predictions_in_the_order_the_table_is_sorted(qtbot) -> None:  # noqa: ANN001
    predictions = [prediction("/a.fits", "spiral", (0.9, 0.1)), prediction("/b.fits", "round", (0.2, 0.8))]
    widget = QTableWidget(2, 2)
    qtbot.addWidget(widget)
    for row, key in enumerate((1, 0)):  # sorted: b first
        cell = QTableWidgetItem(predictions[key].path)
        cell.setData(KEY_ROLE, key)
        widget.setItem(row, 1, cell)
    panel = SimpleNamespace(
        table=widget,
        predictions=predictions,
        KEY_ROLE=KEY_ROLE,
        classifier=SimpleNamespace(classes=("spiral", "round")),
    )
    name, table, keys = predictions_table(panel)  # type: ignore[misc,arg-type]
    assert name == "Galaxy Studio predictions"
    assert list(table["path"]) == ["/b.fits", "/a.fits"] and keys == [("/b.fits", None), ("/a.fits", None)]
    assert list(table["predicted"]) == ["round", "spiral"]
    assert list(table["p_round"]) == [0.8, 0.1] and list(table["confidence"]) == [0.8, 0.9]
    assert list(table["ood_percentile"]) == [40.0, 40.0]


def test_empty_predictions_send_nothing(qtbot) -> None:  # noqa: ANN001
    widget = QTableWidget(0, 2)
    qtbot.addWidget(widget)
    assert predictions_table(SimpleNamespace(table=widget, predictions=[], KEY_ROLE=KEY_ROLE)) is None  # type: ignore[arg-type]


def test_embedding_map_with_positions_labels_and_clusters() -> None:
    items = (CatalogItem("/a.fits", ra=10.0, dec=1.0), CatalogItem("/b.jpg"))
    embeddings = SimpleNamespace(items=items, labels=np.array([1, -1]), class_names=("ring", "spiral"))
    explore = SimpleNamespace(
        embeddings=embeddings,
        xy=np.array([[0.5, 1.5], [2.0, -1.0]]),
        clusters_box=SimpleNamespace(clusters=np.array([3, 0])),
    )
    name, table, keys = embedding_map_table(explore)  # type: ignore[misc,arg-type]
    assert list(table["label"]) == ["spiral", ""]
    assert list(table["map_x"]) == [0.5, 2.0] and list(table["cluster"]) == [3, 0]
    assert table["ra"][0] == 10.0 and table["ra"].mask[1]
    assert keys == [("/a.fits", None), ("/b.jpg", None)]
    assert embedding_map_table(SimpleNamespace(embeddings=None, xy=None)) is None  # type: ignore[arg-type]
