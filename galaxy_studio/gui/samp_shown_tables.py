"""The table a panel shows, as an astropy Table for TOPCAT, with the cutout of each row.

Rows are taken in the order the panel shows them (filtered, sorted), so that row N in
TOPCAT is the N-th row on screen; the keys let row highlights travel back to the cutouts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.samp_tables import ItemKey, item_key, table_of_items

if TYPE_CHECKING:  # the Classify and Explore panels are imported when first shown (they bring torch)
    from galaxy_studio.gui.panels.classify_panel import ClassifyPanel
    from galaxy_studio.gui.panels.explore_panel import ExplorePanel
    from galaxy_studio.gui.panels.library_panel import LibraryPanel

ShownTable = tuple[str, Table, list[ItemKey | None]]

_KEY_COLUMN = 1


def library_table(library: LibraryPanel) -> ShownTable | None:
    """The cutouts the Library lists, with their labels (the project's when one is open)."""
    model = library.model
    if model.rowCount() == 0:
        return None
    rows = range(model.rowCount())
    items = [model.item_at(row) for row in rows]
    labels = [model.labels.get(model.key_at(row)) for row in rows]
    return "Galaxy Studio cutouts", table_of_items(items, labels), [item_key(item) for item in items]


def predictions_table(classify: ClassifyPanel) -> ShownTable | None:
    """The Classify panel's predictions: class, confidence, entropy, the out-of-distribution
    percentile and each class's probability."""
    table_widget = classify.table
    predictions = []
    for row in range(table_widget.rowCount()):
        cell = table_widget.item(row, _KEY_COLUMN)
        if cell is not None:
            predictions.append(classify.predictions[int(cell.data(classify.KEY_ROLE))])
    if not predictions:
        return None
    items = [CatalogItem(p.path, index=p.index) for p in predictions]
    table = table_of_items(items, [None] * len(items))
    table.remove_column("label")
    table["predicted"] = [p.predicted for p in predictions]
    table["confidence"] = [p.confidence for p in predictions]
    table["entropy"] = [p.entropy for p in predictions]
    table["ood_percentile"] = [np.nan if p.ood_percentile is None else p.ood_percentile for p in predictions]
    classes = classify.classifier.classes if classify.classifier is not None else ()
    if all(len(p.probabilities) == len(classes) for p in predictions):
        for column, name in enumerate(classes):
            table[f"p_{name}"] = [p.probabilities[column] for p in predictions]
    return "Galaxy Studio predictions", table, [item_key(item) for item in items]


def embedding_map_table(explore: ExplorePanel) -> ShownTable | None:
    """The Explore map: each cutout's map position, its label and its cluster (when clustered)."""
    embeddings, xy = explore.embeddings, explore.xy
    if embeddings is None or xy is None:
        return None
    names = embeddings.class_names
    labels = [names[label] if 0 <= label < len(names) else None for label in embeddings.labels]
    table = table_of_items(list(embeddings.items), labels)
    table["map_x"], table["map_y"] = xy[:, 0], xy[:, 1]
    clusters = explore.clusters_box.clusters
    if clusters is not None and len(clusters) == len(embeddings.items):
        table["cluster"] = clusters
    return "Galaxy Studio embedding map", table, [item_key(item) for item in embeddings.items]
