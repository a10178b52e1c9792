"""`ans` values that are no Galaxy10 class are refused with their rows; cast to integers
they used to become classes '-1' and '-9223372036854775808' that a model trained on."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from galaxy_studio.data.cutout import CutoutError
from galaxy_studio.data.galaxy10 import invalid_label_rows, open_galaxy10


def test_invalid_label_rows_are_nan_fractions_negatives_and_past_the_last_class() -> None:
    values = np.array([0, 9, np.nan, -1, 10, 2.5, np.inf, 3.0])
    assert invalid_label_rows(values).tolist() == [2, 3, 4, 5, 6]


def test_a_file_with_many_bad_rows_names_ten_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "bad.h5"
    ans = np.zeros(30)
    ans[3:28] = -1
    with h5py.File(path, "w") as handle:
        handle["images"] = np.zeros((30, 8, 8, 3), dtype=np.uint8)
        handle["ans"] = ans
    with pytest.raises(
        CutoutError, match=r"25 values that are not classes .* rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 15 more"
    ):
        open_galaxy10(path).labels()
