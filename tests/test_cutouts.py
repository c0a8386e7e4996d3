"""Cutouts: Cutout2D stamps, edge padding and flags, normalisation, the HDF5 cache."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from clustercat.processing.cutouts import (
    PAD_VALUE,
    CutoutCache,
    CutoutError,
    cache_key,
    central_mask,
    cut_stamps,
    normalise,
)

SHA = {b: f"{k:064x}" for k, b in enumerate(("NUV", "U", "B", "V", "I"), start=1)}


def _images(n: int = 40) -> list[np.ndarray]:
    """Five images whose pixel value encodes band, x and y: b*1e6 + y*1000 + x."""
    yy, xx = np.mgrid[:n, :n]
    return [(b * 1_000_000 + yy * 1000 + xx).astype(np.float64) for b in range(1, 6)]


def test_stamps_are_centred_and_edges_padded_and_flagged() -> None:
    images = _images()
    stack = cut_stamps(images, [20, 1, 39, 100], [20, 2, 39, 100], [7, 8, 9, 10], 8)
    assert stack.pixels.shape == (4, 5, 8, 8) and stack.pixels.dtype == np.float32
    # interior: pixel (row 4, col 4) of an even stamp centred on (20, 20) is image (20, 20)
    assert stack.pixels[0, 3, 4, 4] == 4_020_020
    assert not stack.edge[0] and stack.coverage[0] == 1.0
    for b in range(5):
        np.testing.assert_array_equal(stack.pixels[0, b] - stack.pixels[0, 0], b * 1_000_000)
    # near the corner (x=1, y=2): padded with PAD_VALUE, flagged, coverage < 1
    assert stack.edge[1] and 0 < stack.coverage[1] < 1
    assert (stack.pixels[1, :, :, 0] == PAD_VALUE).all()
    assert stack.pixels[1, 0, 4, 4] == 1_002_001
    assert stack.edge[2] and stack.coverage[2] == pytest.approx(25 / 64)
    # entirely off the image: all padding, coverage 0
    assert stack.edge[3] and stack.coverage[3] == 0 and (stack.pixels[3] == PAD_VALUE).all()
    np.testing.assert_array_equal(stack.source_id, [7, 8, 9, 10])


def test_bad_requests_are_refused() -> None:
    with pytest.raises(CutoutError, match="size"):
        cut_stamps(_images(), [5], [5], [1], 2)
    with pytest.raises(CutoutError, match="4 images for 5 bands"):
        cut_stamps(_images()[:4], [5], [5], [1], 8)
    with pytest.raises(CutoutError, match="one pixel grid"):
        cut_stamps([*_images()[:4], np.zeros((10, 10))], [5], [5], [1], 8)


def test_minmax_keeps_colours_and_ignores_masked_pixels() -> None:
    rng = np.random.default_rng(1)
    cube = rng.uniform(1, 5, (2, 5, 12, 12)).astype(np.float32)
    cube[1, 2] *= 3.0  # one band brighter: colour kept by a single min and max over bands
    out = normalise(cube, "minmax")
    assert out.min(axis=(1, 2, 3)) == pytest.approx([0, 0]) and out.max() == pytest.approx(1)
    lo, hi = cube[1].min(), cube[1].max()
    np.testing.assert_allclose(out[1], (cube[1] - lo) / (hi - lo), rtol=1e-6)
    mask = central_mask(12, 4)
    cube[0, :, mask] = 1000.0  # a hot centre, masked: left out of min/max and set to 0
    masked = normalise(cube, "minmax", mask=mask)
    assert (masked[0][:, mask] == 0).all() and masked[0].max() == pytest.approx(1.0)
    assert masked[0][:, ~mask].min() == pytest.approx(0.0)


def test_asinh_standardises_each_band() -> None:
    rng = np.random.default_rng(2)
    cube = rng.normal(10, 3, (3, 5, 16, 16)).astype(np.float32)
    out = normalise(cube, "asinh")
    z = np.sinh(out)
    np.testing.assert_allclose(z.mean(axis=(2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(2, 3)), 1, atol=1e-3)
    with pytest.raises(CutoutError, match="unknown normalisation"):
        normalise(cube, "zscale")


def test_central_mask_counts() -> None:
    # Viana et al.: R = 6 on 112 px masks 113 pixels (about the pixel-centre grid)
    assert central_mask(112, 0).sum() == 0
    assert central_mask(113, 12).sum() == 113
    assert (central_mask(24, 8, inner=False) == ~central_mask(24, 8)).all()


def test_cache_is_keyed_by_image_sha256_and_source(tmp_path: Path) -> None:
    images = _images()
    calls = []

    def loader() -> list[np.ndarray]:
        calls.append(1)
        return images

    cache = CutoutCache(tmp_path, SHA, 8)
    assert cache.path.name == f"{cache_key(SHA, 8)}.h5"
    first = cache.get([1, 2], x=[10, 20], y=[10, 20], loader=loader)
    assert len(calls) == 1 and first.pixels[1, 3, 4, 4] == 4_020_020
    # stored ids come back without the images; a new id is cut and appended
    again = cache.get([2, 1])
    np.testing.assert_array_equal(again.pixels, first.pixels[::-1])
    more = cache.get([3, 2], x=[30, 20], y=[30, 20], loader=loader)
    assert len(calls) == 2 and more.pixels[0, 0, 4, 4] == 1_030_030
    np.testing.assert_array_equal(np.sort(cache.stored_ids()), [1, 2, 3])
    with pytest.raises(CutoutError, match="not cached"):
        cache.get([4])
    # another image sha256 (a changed file) or size is another cache file
    changed = dict(SHA, V="f" * 64)
    assert cache_key(changed, 8) != cache_key(SHA, 8) != cache_key(SHA, 16)
    assert not CutoutCache(tmp_path, changed, 8).path.exists()
    # a file that does not belong to these images is refused
    with h5py.File(cache.path, "a") as f:
        f.attrs["sha256_V"] = "0" * 64
    with pytest.raises(CutoutError, match="does not belong"):
        cache.get([1])
