"""The factors of a test digit that a latent dimension may carry, measured: its label, the hue and brightness
of the color it was painted in, and the six morphometrics of Morpho-MNIST (Castro et al., "Morpho-MNIST:
Quantitative Assessment and Diagnostics for Representation Learning", JMLR 20(178), 2019, section 3.1),
computed as the paper defines them, with scikit-image and SciPy:

- the digit (gray, 28 x 28) is upscaled 4x (`skimage.transform.pyramid_expand`, cubic) and binarised at half
  its range; `skimage.morphology.medial_axis` gives its skeleton and the distance of each pixel to the
  background;
- area: the binary pixels, in px at 28 x 28 (/ 4^2);
- length: the skeleton's length, each pair of 4-neighbouring skeleton pixels counted 1 and each diagonal pair
  sqrt 2, in px (/ 4);
- thickness: twice the mean distance to the background along the skeleton, in px (/ 4);
- slant: the angle (radians, positive when the top leans right) of the horizontal shear that makes the
  upscaled image's second moments upright: arctan(-mu11 / mu02) (y pointing down);
- width and height: of the parallelogram sheared by that slant that holds the upscaled image's mass but 1%
  on each side, in px (/ 4).

The paper's code (dccastro/Morpho-MNIST) is the reference for these choices; this is an implementation of
them, not a copy.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .data import SAMPLE_PACK, DataError, image_hues, load_mnist, read_npz, rgb_to_hsv
from .explore import GRAY_SATURATION
from .files import atomic_write

MORPHOMETRICS = ("area", "length", "thickness", "slant", "width", "height")
# Every factor a latent dimension is scored against, in this order: the class, the shape, the paint
FACTORS = ("digit", *MORPHOMETRICS, "hue", "brightness")
DISCRETE = {"digit"}  # the factors that are classes; the others are measures
UNITS = {"digit": "", "area": "px²", "length": "px", "thickness": "px", "slant": "rad", "width": "px", "height": "px",
         "hue": "turn", "brightness": ""}  # at 28 x 28; a hue in turns (0 to 1), a brightness from 0 to 1
UPSCALE = 4  # the paper's resolution for the measures
THRESHOLD = 0.5  # binarised at this share of the upscaled image's range
STROKE_SHARE = 0.5  # a picture's stroke: its pixels at least this share of its brightest pixel's value
BLANK = 0.05  # a picture whose brightest pixel is darker than this has no stroke to measure
BOUND_FRACTION = 0.02  # width and height leave out this share of the mass, half on each side
# The morphometrics of the 10,000 MNIST test digits, in their order (python -m train factors)
FACTOR_PACK = Path(__file__).resolve().parent.parent / "weights" / "mnist-test-factors.npz"


def morphometrics(image: np.ndarray) -> np.ndarray:
    """Morpho-MNIST's six measures of one gray digit (H, W), uint8 (0-255) or float in [0, 1], light strokes on
    black: float64 (6,) in MORPHOMETRICS' order (area px², length px, thickness px, slant rad, width px,
    height px, at the input's scale). ValueError for an image with no stroke (all one value)."""
    from skimage import morphology, transform  # imported when measuring, not with the app

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"morphometrics takes one gray image (H, W), not {image.shape}")
    if image.max() > 1:
        image = image / 255
    if np.ptp(image) == 0:
        raise ValueError("the image has no stroke: all its pixels have one value")
    fine = transform.pyramid_expand(image, upscale=UPSCALE, order=3)
    binary = fine >= fine.min() + THRESHOLD * np.ptp(fine)
    skeleton, distance = morphology.medial_axis(binary, return_distance=True, rng=0)  # ties broken the same way each time
    area = binary.sum() / UPSCALE**2
    length = _skeleton_length(skeleton) / UPSCALE
    thickness = 2 * distance[skeleton].mean() / UPSCALE
    shear, width, height = _bounding_parallelogram(np.clip(fine, 0, None))
    return np.array([area, length, thickness, np.arctan(-shear), width / UPSCALE, height / UPSCALE])


def _skeleton_length(skeleton: np.ndarray) -> float:
    """The length of a one-pixel-wide skeleton: 1 for each pair of 4-neighbours, sqrt 2 for each diagonal pair
    (each pair counted once: a pixel with its right, lower-left, lower and lower-right neighbours)."""
    from scipy import ndimage

    weights = np.array([[0, 0, 0], [0, 0, 1], [np.sqrt(2), 1, np.sqrt(2)]])
    s = skeleton.astype(np.float64)
    return float((ndimage.correlate(s, weights, mode="constant") * s).sum())


def _bounding_parallelogram(image: np.ndarray) -> tuple[float, float, float]:
    """(shear, width, height) of an image's mass (H, W), in its pixels: the shear mu11 / mu02 of its second
    moments (x right, y down), and the extent along the sheared rows and along the columns that leaves out
    BOUND_FRACTION / 2 of the mass on each side (linear interpolation of the cumulative mass)."""
    height, width = image.shape
    y, x = np.mgrid[:height, :width].astype(np.float64)
    mass = image.sum()
    cx, cy = (x * image).sum() / mass, (y * image).sum() / mass
    mu11 = ((x - cx) * (y - cy) * image).sum() / mass
    mu02 = ((y - cy) ** 2 * image).sum() / mass
    shear = mu11 / mu02
    side = BOUND_FRACTION / 2
    # each pixel's column once the shear is undone (the slanted digit made upright about its centre row),
    # its mass counted left of a cut t when its centre (x + 1/2) lies left of it
    upright = x + 0.5 - shear * (y - cy)
    cuts = np.arange(width, dtype=np.float64)
    order = np.argsort(upright, axis=None)
    left_of = np.searchsorted(upright.ravel()[order], cuts, side="left")
    cumulative = np.concatenate([[0], np.cumsum(image.ravel()[order])]) / mass
    horizontal = cumulative[left_of]
    vertical = np.concatenate([[0], np.cumsum(image.sum(axis=1))[:-1]]) / mass  # mass above row t
    left, right = np.interp([side, 1 - side], horizontal, cuts)
    top, bottom = np.interp([side, 1 - side], vertical, np.arange(height, dtype=np.float64))
    return shear, right - left, bottom - top


def measure_digits(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """morphometrics of each gray digit (N, H, W): float32 (N, 6)."""
    return np.stack([morphometrics(image) for image in np.asarray(images)]).astype(np.float32)


def color_factors(colors: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The hue (turns, [0, 1)) and brightness (HSV value, [0, 1]) of each digit's paint color (N, 3) RGB in
    [0, 1]; the hue is NaN where the color has none (gray or white: saturation under GRAY_SATURATION)."""
    hue, saturation, value = (part[:, 0, 0] for part in rgb_to_hsv(colors.float()[:, :, None, None]))
    hue = torch.where(saturation < GRAY_SATURATION, torch.nan, hue)
    return hue.numpy(), value.numpy()


def digit_factors(morphometrics: np.ndarray, labels, colors: torch.Tensor) -> np.ndarray:
    """The FACTORS of each test digit painted in a color: its label, its morphometrics (N, 6) from the factor
    pack, and the hue and brightness of its color (N, 3) RGB in [0, 1] (color_factors): float64 (N, 9), the hue
    NaN where the color is gray or white."""
    hue, brightness = color_factors(colors)
    return np.column_stack([np.asarray(labels, dtype=np.float64), np.asarray(morphometrics, dtype=np.float64),
                            hue, brightness])


def picture_factors(pictures: torch.Tensor) -> np.ndarray:
    """The factors that can be measured on pictures (N, 3, H, W) in [0, 1] (a decoded digit, say): FACTORS but
    the digit, float64 (N, 8). The morphometrics are measured on the brightest channel (HSV value, which is
    the gray digit times its paint's brightness: binarised at half its range, the shape does not depend on
    the brightness); the stroke is the pixels whose value is at least STROKE_SHARE of the picture's brightest;
    the hue is the circular mean of the stroke pixels' hues (NaN where the stroke is gray: mean saturation
    under GRAY_SATURATION); the brightness is the 90th percentile of the stroke's value (a digit's stroke is
    at full intensity along its middle). A blank picture (no pixel's value reaches BLANK) gets a row of NaN."""
    pictures = pictures.float()
    value = pictures.amax(1)
    brightest = value.flatten(1).amax(1)
    stroke = value >= STROKE_SHARE * brightest[:, None, None]
    out = np.full((len(pictures), len(FACTORS) - 1), np.nan)
    drawn = brightest >= BLANK
    if not drawn.any():
        return out
    pictures, value, stroke = pictures[drawn], value[drawn], stroke[drawn]
    _, saturation, _ = rgb_to_hsv(pictures)
    gray = (saturation * stroke).sum((1, 2)) / stroke.sum((1, 2)) < GRAY_SATURATION
    hue = torch.where(gray, torch.nan, image_hues(pictures, stroke))
    brightness = torch.stack([v[s].quantile(0.9) for v, s in zip(value, stroke)])
    out[drawn.numpy()] = np.column_stack([measure_digits(value.numpy()), hue.numpy(), brightness.numpy()])
    return out


def factor_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """after - before for rows of picture_factors (..., 8), the hue's change taken the short way round the circle
    (-0.5 to 0.5 turn): float64 (..., 8), NaN where either is."""
    change = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
    hue = FACTORS.index("hue") - 1  # picture_factors has no digit column
    change[..., hue] = (change[..., hue] + 0.5) % 1 - 0.5
    return change


def make_factor_pack(path: str | Path = FACTOR_PACK, data_dir=None, workers: int = 2) -> Path:
    """Measure the morphometrics of the 10,000 MNIST test digits in `workers` processes and write them, with
    the labels and the seconds it took, as a compressed .npz file (atomically): `morphometrics` float32
    (10000, 6) in MORPHOMETRICS' order, `labels` uint8 (10000,), `names`, `seconds`."""
    images, labels = load_mnist("test", data_dir)
    start = time.perf_counter()
    chunks = np.array_split(images.numpy(), 100)
    with ProcessPoolExecutor(workers) as pool:
        measured = np.concatenate(list(pool.map(measure_digits, chunks)))
    seconds = time.perf_counter() - start
    return atomic_write(path, lambda tmp: np.savez_compressed(
        tmp, morphometrics=measured, labels=labels.numpy().astype(np.uint8), names=np.array(MORPHOMETRICS),
        seconds=np.float64(seconds)))


def load_factor_pack(path: str | Path = FACTOR_PACK) -> tuple[np.ndarray, np.ndarray]:
    """The test digits' morphometrics float32 (10000, 6) and labels int64 (10000,) from make_factor_pack's
    file. DataError if it is missing, a Git LFS pointer, damaged or of other measures."""
    make = "Make it with: python -m train factors --data-dir DIR"
    pack = read_npz(path, ("morphometrics", "labels", "names"), "factor pack", make)
    measured, labels, names = pack["morphometrics"], pack["labels"], tuple(pack["names"].tolist())
    if names != MORPHOMETRICS or measured.shape != (len(labels), len(MORPHOMETRICS)):
        raise DataError(f"The factor pack {path} does not hold {', '.join(MORPHOMETRICS)} per digit. {make}")
    return measured, labels.astype(np.int64)


def morphometrics_of_test_digits(labels: torch.Tensor, sample_pack: bool = False, path: str | Path = FACTOR_PACK) -> np.ndarray:
    """The morphometrics float32 (N, 6) of the test digits an evaluation reads: all 10,000 in order, or
    (`sample_pack`) the sample pack's, by its `test_indices`. DataError if the pack is missing or damaged, or if
    its labels are not `labels` (N,) (another order or set of digits)."""
    measured, pack_labels = load_factor_pack(path)
    if sample_pack:
        indices = read_npz(SAMPLE_PACK, ("test_indices",), "sample pack",
                           "Make it with: python -m train sample-pack --data-dir DIR")["test_indices"]
        measured, pack_labels = measured[indices], pack_labels[indices]
    if not np.array_equal(pack_labels, np.asarray(labels)):
        raise DataError(f"The factor pack {path} does not measure these test digits (their labels differ). "
                        "Make it with: python -m train factors --data-dir DIR")
    return measured
