"""A classification as an astropy Table: the command line's CSV columns, typed."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from galaxy_studio.model.classification import ClassifyResult, prediction_columns
from galaxy_studio.path_text import to_text


def predictions_table(result: ClassifyResult) -> Table:
    """A row per classified cutout, in the columns and order of `classify --out` (a Galaxy10 row
    as FILE[ROW]); a score the checkpoint cannot give is NaN, not an empty string."""
    predictions = result.predictions
    names = prediction_columns(result.classes)
    probabilities = np.array([p.probabilities for p in predictions], dtype=np.float64).reshape(
        len(predictions), len(result.classes)
    )
    columns: list[object] = [
        [to_text(p.path) + ("" if p.index is None else f"[{p.index}]") for p in predictions],
        [p.predicted for p in predictions],
        np.array([p.confidence for p in predictions], dtype=np.float64),
        np.array([p.entropy for p in predictions], dtype=np.float64),
        *(probabilities[:, column] for column in range(len(result.classes))),
        np.array([np.nan if p.ood_score is None else p.ood_score for p in predictions], dtype=np.float64),
        np.array([np.nan if p.ood_percentile is None else p.ood_percentile for p in predictions], dtype=np.float64),
        np.array([p.unfamiliar for p in predictions], dtype=bool),
        ["; ".join(p.warnings) for p in predictions],
    ]
    table = Table(columns, names=names)
    table.meta.update(model=result.model, classes=list(result.classes), failures=list(result.failures))
    return table
