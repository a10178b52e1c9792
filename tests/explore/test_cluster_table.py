"""`cluster --out`: every image's clusters as a table an astronomer loads, with the catalogue's
RA/Dec or a FITS file's WCS centre, and nothing written when the table cannot be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from galaxy_studio.cli import main
from galaxy_studio.data.catalog import CatalogItem
from galaxy_studio.data.formats import read_cutout
from galaxy_studio.explore.embeddings import Embeddings

STAMP = "100610.img.fits"


def _embeddings(samples: Path, out: Path) -> Path:
    """Four images in two well-separated pairs: a catalogue row with RA/Dec, a FITS stamp with
    a WCS, an HDF5 row and a JPEG with neither."""
    items = (
        CatalogItem(str(samples / "img_1_15.jpeg"), label="spiral", ra=210.927048, dec=-1.137346),
        CatalogItem(str(samples / STAMP)),
        CatalogItem("/data/galaxy10.h5", index=7),
        CatalogItem(str(samples / "img_4_100000.jpeg")),
    )
    vectors = np.array([[0, 0], [0.1, 0], [9, 9], [9.1, 9]], np.float32)
    Embeddings(vectors, items, np.array([1, 1, 0, -1]), ("elliptical", "spiral"), "test vectors").save(out)
    return out


@pytest.mark.parametrize(("name", "fmt"), [("clusters.fits", "FITS"), ("clusters.ecsv", "ECSV"), ("c.xml", "VOTABLE")])
def test_cluster_writes_each_images_clusters_and_position(
    samples: Path, tmp_path: Path, name: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    embeddings = _embeddings(samples, tmp_path / "emb.npz")
    out = tmp_path / name
    assert main(["cluster", str(embeddings), "--k", "2", "4", "--out", str(out)]) == 0
    assert (
        f"{out}: the clusters, 4 rows ({name.split('.')[1].upper().replace('XML', 'VOTABLE')})"
        in capsys.readouterr().err
    )
    table = Table.read(out)
    assert table.colnames == ["path", "index", "label", "ra", "dec", "cluster_kmeans_k2", "cluster_kmeans_k4"]
    assert table["ra"].unit == u.deg
    assert table["cluster_kmeans_k2"].description.startswith("cluster (0 to 1) by kmeans with k=2")
    pairs = table["cluster_kmeans_k2"].tolist()
    assert pairs[0] == pairs[1] != pairs[2] == pairs[3]
    assert sorted(table["cluster_kmeans_k4"].tolist()) == [0, 1, 2, 3]
    assert (table["ra"][0], table["dec"][0]) == pytest.approx((210.927048, -1.137346))
    assert (table["ra"][1], table["dec"][1]) == pytest.approx(read_cutout(samples / STAMP).centre_icrs())
    assert np.ma.getmaskarray(table["ra"]).tolist() == [False, False, True, True]
    assert table["index"][2] == 7 and np.ma.is_masked(table["index"][0])
    # An unlabelled image has no label: masked, or an empty string in VOTable (no null for text).
    assert np.ma.filled(table["label"], "").tolist() == ["spiral", "spiral", "elliptical", ""]


def test_an_unwritable_table_is_refused_before_clustering(
    samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    embeddings = _embeddings(samples, tmp_path / "emb.npz")
    out = tmp_path / "missing" / "clusters.fits"
    assert main(["cluster", str(embeddings), "--k", "2", "--out", str(out), "--format", "fits"]) == 1
    captured = capsys.readouterr()
    assert f"{out}: the folder {out.parent} does not exist; nothing was done" in captured.err
    assert captured.out == "", "refused before any clustering is printed"
