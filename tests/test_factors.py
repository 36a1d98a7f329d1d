"""The factors of a digit (explorer/factors.py): Morpho-MNIST's morphometrics on drawn shapes of known size,
thickness and slant, then on real digits, and the hue and brightness of the colorings.

Tolerances follow from the measure's definition, not from one run: the digit is upscaled 4x with cubic
interpolation after a Gaussian blur (pyramid_expand), so a stroke's binarised edge moves by well under one
upscaled pixel (0.25 px at 28 x 28) and its thickness by twice that; width and height are taken from the
blurred mass, whose tails add a fraction of a pixel on each side to the 98% of a sharp box."""

import math

import numpy as np
import pytest
import torch

from explorer.data import PALETTE, SAMPLE_PACK, DataError, coloring_colors, hue_to_rgb, in_coloring
from explorer.factors import (FACTOR_PACK, FACTORS, MORPHOMETRICS, color_factors, digit_factors, factor_change,
                              load_factor_pack, measure_digits, morphometrics, morphometrics_of_test_digits,
                              picture_factors)

AREA, LENGTH, THICKNESS, SLANT, WIDTH, HEIGHT = range(len(MORPHOMETRICS))


def box(top: int, left: int, height: int, width: int) -> np.ndarray:
    image = np.zeros((28, 28))
    image[top:top + height, left:left + width] = 1
    return image


def slanted_stroke(degrees: float, thickness: int = 3) -> np.ndarray:
    """A stroke from row 4 to row 23 whose top leans right by `degrees` (as a slanted 1 leans), `thickness` px wide."""
    image = np.zeros((28, 28))
    for row in range(4, 24):
        centre = 14 + (13.5 - row) * math.tan(math.radians(degrees))
        left = round(centre - thickness / 2)
        image[row, left:left + thickness] = 1
    return image


@pytest.mark.parametrize("thickness", [2, 3, 4])
def test_a_bar_has_its_thickness(thickness):
    """MNIST's strokes are 1.5-4 px. Thicker bars read less (5 px: 4.7, 6 px: 5.4): the mean runs over the
    skeleton's branches into the corners too, where the distance to the edge falls."""
    assert morphometrics(box(12, 2, thickness, 24))[THICKNESS] == pytest.approx(thickness, abs=0.25)


@pytest.mark.parametrize("degrees", [-30, -15, 0, 15, 30])
def test_a_stroke_has_its_slant(degrees):
    assert math.degrees(morphometrics(slanted_stroke(degrees))[SLANT]) == pytest.approx(degrees, abs=2)


@pytest.mark.parametrize("height, width", [(16, 8), (20, 12), (10, 18)])
def test_a_box_has_its_width_height_and_area(height, width):
    measured = morphometrics(box(14 - height // 2, 14 - width // 2, height, width))
    assert measured[WIDTH] == pytest.approx(0.98 * width, abs=1)
    assert measured[HEIGHT] == pytest.approx(0.98 * height, abs=1)
    assert measured[AREA] == pytest.approx(width * height, rel=0.02)
    assert measured[SLANT] == pytest.approx(0, abs=1e-9)


def test_a_longer_bar_is_longer_by_as_much():
    """10 px more of a bar: 10 px more of skeleton, straight or in diagonal steps (up to sqrt 2 per px, where
    the medial axis runs between two rows); its branches into the corners are the same at both lengths."""
    short, long = (morphometrics(box(12, 2, 3, n))[LENGTH] for n in (14, 24))
    assert 10 <= long - short <= 10 * math.sqrt(2)


def test_real_digits_measure_as_their_shapes(pack):
    images, labels = pack
    ones, zeros = (measure_digits(images[labels == d][:20]) for d in (1, 0))
    assert np.median(ones[:, WIDTH]) < 0.5 * np.median(zeros[:, WIDTH])  # a 1 is narrow, a 0 is round
    assert np.median(ones[:, AREA]) < np.median(zeros[:, AREA])
    assert 1.5 < np.median(ones[:, THICKNESS]) < 3.5 and 17 < np.median(ones[:, HEIGHT]) < 21  # MNIST's 20 px box
    assert measure_digits(images[:3]).dtype == np.float32 and measure_digits(images[:3]).shape == (3, 6)


def test_what_cannot_be_measured_is_refused():
    with pytest.raises(ValueError, match="no stroke"):
        morphometrics(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="one gray image"):
        morphometrics(np.zeros((3, 28, 28)))
    assert np.array_equal(morphometrics(255 * box(4, 8, 20, 12)), morphometrics(box(4, 8, 20, 12)))  # 0-255 or 0-1
    assert np.array_equal(morphometrics(box(4, 8, 20, 12)), morphometrics(box(4, 8, 20, 12)))  # the same each time


def test_the_colorings_give_their_hue_and_brightness():
    labels = torch.arange(10)
    hue, brightness = color_factors(coloring_colors("gray", labels))
    assert np.isnan(hue).all() and np.allclose(brightness, 1)
    hue, brightness = color_factors(coloring_colors("random", labels, seed=3))
    assert not np.isnan(hue).any() and ((0 <= hue) & (hue < 1)).all() and np.allclose(brightness, 1)
    red = [d for d in range(10) if PALETTE[d][0] > 200 and max(PALETTE[d][1:]) < 80]
    if red:  # a red palette color has a hue near 0 (or 1)
        hue, _ = color_factors(coloring_colors("digit", torch.tensor(red)))
        assert (np.minimum(hue, 1 - hue) < 0.05).all()
    _, brightness = color_factors(coloring_colors("any", torch.arange(10).repeat(20), seed=1))
    assert (brightness > 0).all() and (brightness <= 1 + 1e-6).all() and brightness.std() > 0.05  # random brightness


def test_the_shipped_factor_pack_holds_each_test_digits_measures(pack):
    """weights/mnist-test-factors.npz (python -m train factors): the 10,000 test digits in MNIST's order; the
    sample pack's digits, found by their test indices, measure the same here."""
    measured, labels = load_factor_pack()
    assert measured.shape == (10_000, 6) and measured.dtype == np.float32 and np.bincount(labels).min() > 800
    images, sample_labels = pack
    indices = np.load(SAMPLE_PACK)["test_indices"][::50]
    assert (labels[indices] == sample_labels.numpy()[::50]).all()
    assert np.array_equal(measured[indices], measure_digits(images[::50]))


def test_a_missing_or_damaged_factor_pack_says_how_to_make_it(tmp_path):
    with pytest.raises(DataError, match="missing. Make it with: python -m train factors"):
        load_factor_pack(tmp_path / "none.npz")
    (tmp_path / "pointer.npz").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    with pytest.raises(DataError, match="git lfs pull"):
        load_factor_pack(tmp_path / "pointer.npz")
    (tmp_path / "damaged.npz").write_bytes(FACTOR_PACK.read_bytes()[:1000])
    with pytest.raises(DataError, match="not readable"):
        load_factor_pack(tmp_path / "damaged.npz")


def test_a_painted_digit_measures_as_its_shape_and_paint(pack):
    """picture_factors on real digits painted in a known hue at a known brightness: the shape measures are those
    of the gray digit (binarised at half its range, the brightness does not change it: the same to float
    rounding), the hue within 0.01 turn (every stroke pixel has it exactly; the circular mean of float32
    hues), the brightness within 0.01 (MNIST strokes reach 255 along their middle). A gray digit has no hue,
    a dim one (0.2) is measured all the same, a black picture not at all."""
    images = pack[0][::100]
    gray = images.float()[:, None].expand(-1, 3, -1, -1) / 255
    color = hue_to_rgb(torch.tensor([0.3])) * 0.7
    measured = picture_factors(gray * color[0, :, None, None])
    shapes = measure_digits(images.numpy())
    np.testing.assert_allclose(measured[:, :6], shapes, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(measured[:, 6], 0.3, atol=0.01)
    np.testing.assert_allclose(measured[:, 7], 0.7, atol=0.01)
    dim_gray = picture_factors(gray * 0.2)
    assert np.isnan(dim_gray[:, 6]).all() and np.allclose(dim_gray[:, 7], 0.2, atol=0.01)
    np.testing.assert_allclose(dim_gray[:, :6], shapes, rtol=1e-5, atol=1e-5)
    assert np.isnan(picture_factors(torch.zeros(2, 3, 28, 28))).all()


def test_each_test_digit_has_every_factor(pack):
    """digit_factors: the label, the six morphometrics from the pack (the sample pack's own digits, by their test
    indices) and the hue and brightness of the coloring, in FACTORS' order."""
    images, labels = pack
    measured = morphometrics_of_test_digits(labels, sample_pack=True)
    assert np.array_equal(measured[::50], measure_digits(images[::50]))
    colors = coloring_colors("any", labels, seed=5)
    factors = digit_factors(measured, labels, colors)
    assert factors.shape == (1000, len(FACTORS)) == (1000, 9)
    assert np.array_equal(factors[:, 0], labels.numpy()) and np.array_equal(factors[:, 1:7], measured)
    hue, brightness = color_factors(colors)
    assert np.array_equal(factors[:, 7], hue, equal_nan=True) and np.array_equal(factors[:, 8], brightness)
    assert 0 < np.isnan(factors[:, 7]).mean() < 0.5  # the white digits of `any` have no hue
    with pytest.raises(DataError, match="does not measure these test digits"):
        morphometrics_of_test_digits(labels.roll(1), sample_pack=True)
    assert in_coloring(images[:2], labels[:2], "any", seed=5).shape == (2, 3, 28, 28)


def test_a_change_of_hue_goes_the_short_way_round():
    """factor_change: after - before, the hue (an angle in turns) across 0 as +0.1, not -0.9; the others as they are."""
    before, after = np.full(8, 1.0), np.full(8, 3.0)
    before[6], after[6] = 0.95, 0.05
    change = factor_change(before, after)
    assert change[6] == pytest.approx(0.1) and np.array_equal(np.delete(change, 6), np.full(7, 2.0))
