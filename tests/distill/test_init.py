"""Initial synthetic images and ZCA whitening."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galaxy_studio.distill.init import ZcaWhitening, class_mean_images, initial_images, zca_wanted
from galaxy_studio.model.errors import ModelError


def labelled_images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 5)
    images = rng.normal(size=(15, 2, 4, 4)) + labels[:, None, None, None] * 10.0
    return images.astype(np.float32), labels


def test_real_init_takes_distinct_training_images_of_each_class() -> None:
    images, labels = labelled_images()
    start, start_labels = initial_images(images, labels, 3, 4, "real", np.random.default_rng(1))
    assert start.shape == (12, 2, 4, 4) and list(start_labels) == [0] * 4 + [1] * 4 + [2] * 4
    for image, label in zip(start, start_labels):
        matches = [i for i in range(15) if np.array_equal(images[i], image)]
        assert len(matches) == 1 and labels[matches[0]] == label
    assert len({start[i].tobytes() for i in range(12)}) == 12


def test_mean_init_is_the_class_mean_and_noise_is_standard_normal() -> None:
    images, labels = labelled_images()
    means = class_mean_images(images, labels, 3)
    start, _ = initial_images(images, labels, 3, 1, "mean", np.random.default_rng(1))
    np.testing.assert_allclose(start, means, rtol=1e-6)
    np.testing.assert_allclose(means[2], images[labels == 2].mean(axis=0), rtol=1e-6)
    noise, _ = initial_images(images, labels, 3, 200, "noise", np.random.default_rng(1))
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1.0) < 0.05


def test_a_class_without_images_is_named() -> None:
    images, labels = labelled_images()
    with pytest.raises(ModelError, match="class 3 has no training images"):
        initial_images(images, labels, 4, 1, "real", np.random.default_rng(0))


def test_zca_whitens_and_inverts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(12, 12))
    images = (rng.normal(size=(4000, 12)) @ mixing).reshape(4000, 3, 2, 2).astype(np.float32)
    zca = ZcaWhitening.fit(images, epsilon=1e-6)
    white = zca.whiten(images).reshape(4000, 12)
    np.testing.assert_allclose(np.cov(white, rowvar=False), np.eye(12), atol=0.02)
    np.testing.assert_allclose(zca.unwhiten(zca.whiten(images)), images, rtol=1e-3, atol=1e-3)
    # ZCA (unlike PCA whitening) stays close to the original pixels: symmetric matrix.
    np.testing.assert_allclose(zca.matrix, zca.matrix.T, atol=1e-4)
    zca.save(tmp_path / "zca.npz")
    loaded = ZcaWhitening.load(tmp_path / "zca.npz")
    np.testing.assert_array_equal(loaded.inverse, zca.inverse)
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(ModelError, match="bad.npz: not a ZCA transform"):
        ZcaWhitening.load(tmp_path / "bad.npz")


def test_zca_by_default_only_for_displayed_pictures_where_the_matrix_is_small() -> None:
    assert zca_wanted(None, 3 * 32 * 32, "display") and zca_wanted(None, 64 * 64, "display")
    assert not zca_wanted(None, 3 * 64 * 64, "display")
    assert not zca_wanted(None, 3 * 32 * 32, "bands"), "FITS bands are noise-dominated: not whitened unasked"
    assert zca_wanted(True, 3 * 32 * 32, "bands") and zca_wanted(True, 3 * 64 * 64, "display")
    assert not zca_wanted(False, 3 * 16 * 16, "display")
    with pytest.raises(ModelError, match=r"49,152 values per image needs a 49,152 x 49,152 matrix") as refused:
        zca_wanted(True, 3 * 128 * 128, "bands")
    assert str(refused.value).endswith("(64 px in colour): a smaller --size, or --zca off")
