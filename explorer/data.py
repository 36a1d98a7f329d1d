"""MNIST from IDX files (checksummed), the three colorings, ColoredMNIST and the shipped sample pack."""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from .files import atomic_write, lfs_pointer_hint

MNIST_FILES = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_MD5 = {  # md5 of the decompressed files, as published with MNIST
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
COLORINGS = ("digit", "random", "gray")  # the test colorings
TRAINING_COLORINGS = COLORINGS + ("any",)  # any: each digit in a new color (AnyColor), for the VAEs
TEST_COLOR_SEED = 1234  # the random colors of test digits, in the evaluation and the app (training uses other seeds)
# One vivid color per digit class on the black background (0-255 RGB).
PALETTE = {
    0: (230, 25, 75),  # red
    1: (60, 180, 75),  # green
    2: (255, 225, 25),  # yellow
    3: (0, 130, 200),  # blue
    4: (245, 130, 48),  # orange
    5: (145, 30, 180),  # purple
    6: (70, 240, 240),  # cyan
    7: (240, 50, 230),  # magenta
    8: (210, 245, 60),  # lime
    9: (250, 190, 212),  # pink
}
SAMPLE_PACK = Path(__file__).resolve().parent.parent / "weights" / "mnist-test-samples.npz"
_FIX = "Point --data-dir or the MNIST_DIR environment variable at a folder with the original MNIST files."


class DataError(RuntimeError):
    """MNIST could not be found or read; the message says which file and what to do."""


# ----------------------------------------------------------------------------- reading IDX


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The MNIST folder: the given one, else $MNIST_DIR, else a cache folder that torchvision fills."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colored-mnist-explorer"
    if not all(find_mnist_file(cache, name) for name in MNIST_MD5):
        _download(cache)
    return cache


def _download(root: Path) -> None:
    from torchvision.datasets import MNIST

    try:
        for train in (True, False):
            MNIST(root, train=train, download=True)
    except Exception as error:  # torchvision raises several kinds when offline
        raise DataError(
            f"MNIST is not in {root} and could not be downloaded there ({type(error).__name__}: {error}). "
            f"{_FIX} Example: MNIST_DIR=../shared/data/mnist or --data-dir ../shared/data/mnist"
        ) from error


def find_mnist_file(root: Path, name: str) -> Path | None:
    """The file `name` (raw or .gz) in root or in torchvision's layout root/MNIST/raw."""
    for folder in (root, root / "MNIST" / "raw"):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: str | os.PathLike, md5: str | None = None) -> np.ndarray:
    """Read one IDX file (raw or .gz) as a uint8 array; check the md5 of its bytes when given."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist. {_FIX}") from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path} is truncated or not a gzip file ({error}). Replace it with the original MNIST file.") from None
    if md5 is not None and hashlib.md5(raw).hexdigest() != md5:
        raise DataError(
            f"{path} has the wrong content (md5 of its decompressed bytes is {hashlib.md5(raw).hexdigest()}, "
            f"expected {md5}): it is truncated, damaged or another file. Replace it with the original MNIST file."
        )
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise DataError(f"{path} is truncated: its header announces shape {shape} but the data has another size.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(split: str, data_dir: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST `split` ("train" or "test") as uint8 images (N, 28, 28) and int64 labels (N,), checksummed."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    root = resolve_data_dir(data_dir)
    if not root.is_dir():
        raise DataError(f"The MNIST folder {root} does not exist. {_FIX}")
    arrays = []
    for name in MNIST_FILES[split]:
        path = find_mnist_file(root, name)
        if path is None:
            raise DataError(f"{root} has no {name} (nor {name}.gz, nor MNIST/raw/{name}). {_FIX}")
        arrays.append(read_idx(path, MNIST_MD5[name]))
    images, labels = arrays
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


# ----------------------------------------------------------------------------- colorings


def hue_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """Fully saturated, full-value RGB in [0, 1] for hues in [0, 1): shape (..., 3)."""
    h6 = hue[..., None] * 6
    r = (h6 - 3).abs() - 1
    g = 2 - (h6 - 2).abs()
    b = 2 - (h6 - 4).abs()
    return torch.cat([r, g, b], dim=-1).clamp(0, 1)


def rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue in [0, 1), saturation and value of RGB images (N, 3, H, W) in [0, 1]: each (N, H, W)."""
    r, g, b = x.unbind(1)
    value, _ = x.max(1)
    chroma = value - x.min(1).values
    safe = chroma.clamp_min(1e-8)
    hue = torch.where(value == r, ((g - b) / safe) % 6, torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return hue / 6, chroma / value.clamp_min(1e-8), value


def image_hues(images: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """The hue in [0, 1) of each image (N,): the circular mean of its foreground pixels' hues."""
    hue, _, _ = rgb_to_hsv(images)
    angle, weight = hue * 2 * torch.pi, foreground.float()
    mean_angle = torch.atan2((angle.sin() * weight).sum((1, 2)), (angle.cos() * weight).sum((1, 2)))
    return (mean_angle / (2 * torch.pi)) % 1.0


def hue_error_degrees(asked: torch.Tensor, produced: torch.Tensor) -> torch.Tensor:
    """The circular distance between two hues in [0, 1), in degrees (0 to 180; 90 on average by chance)."""
    difference = (asked - produced).abs() % 1.0
    return torch.minimum(difference, 1 - difference) * 360


def palette_colors(labels: torch.Tensor) -> torch.Tensor:
    """The palette color (float RGB in [0, 1]) of each label: shape (N, 3)."""
    table = torch.tensor([PALETTE[d] for d in range(10)], dtype=torch.float32) / 255
    return table[labels]


def any_colors(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Colors for the `any` coloring, the colors users bring: for each digit (labels (N,)) a random fully
    saturated hue (half of them), white (a quarter) or its palette color (a quarter), each at a random
    brightness in [0.5, 1]: (N, 3) RGB in [0, 1]."""
    n = len(labels)
    kind = torch.rand(n, generator=generator)
    colors = torch.where((kind < 0.5)[:, None], hue_to_rgb(torch.rand(n, generator=generator)),
                         torch.where((kind < 0.75)[:, None], torch.ones(n, 3), palette_colors(labels)))
    return colors * (0.5 + 0.5 * torch.rand(n, 1, generator=generator))


def coloring_colors(coloring: str, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One RGB color in [0, 1] per image for a coloring: the digit's palette color, a random hue, white,
    or (`any`) any of these at a random brightness (any_colors); random colors from the seed."""
    if coloring == "digit":
        return palette_colors(labels)
    if coloring == "random":
        hues = torch.rand(len(labels), generator=torch.Generator().manual_seed(seed))
        return hue_to_rgb(hues)
    if coloring == "gray":
        return torch.ones(len(labels), 3)
    if coloring == "any":
        return any_colors(labels, torch.Generator().manual_seed(seed))
    raise ValueError(f"coloring must be one of {', '.join(TRAINING_COLORINGS)}, not {coloring!r}")


class GrayToRGB:
    """Transform: uint8 gray images (..., 28, 28) -> float RGB (..., 3, 28, 28) in [0, 1], R = G = B."""

    def __call__(self, gray: torch.Tensor) -> torch.Tensor:
        return (gray.float() / 255).unsqueeze(-3).expand(*gray.shape[:-2], 3, *gray.shape[-2:])


class Paint:
    """Transform: RGB images (..., 3, H, W) with white strokes -> strokes in `color` (..., 3) on black."""

    def __call__(self, rgb: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
        return rgb * color[..., :, None, None]


class ColoredMNIST(torch.utils.data.Dataset):
    """MNIST in one coloring: items are (float image (3, 28, 28) in [0, 1], label).

    `colors[i]` is the RGB color of image i (for evaluation code). Indexing with a tensor of indices
    returns a whole batch (images (B, 3, 28, 28), labels (B,)) at once, which the training engine uses.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, coloring: str, seed: int = 0,
                 colors: torch.Tensor | None = None):
        self.images, self.labels, self.coloring = images, labels, coloring
        self.colors = coloring_colors(coloring, labels, seed) if colors is None else colors
        self.to_rgb, self.paint = GrayToRGB(), Paint()

    @classmethod
    def mixture(cls, images: torch.Tensor, labels: torch.Tensor, colorings=COLORINGS, seed: int = 0) -> "ColoredMNIST":
        """Every image once in each coloring (len = len(colorings) x len(images)); coloring "mixed"."""
        colors = torch.cat([coloring_colors(c, labels, seed) for c in colorings])
        n = len(colorings)
        return cls(images.repeat(n, 1, 1), labels.repeat(n), "mixed", colors=colors)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.paint(self.to_rgb(self.images[index]), self.colors[index]), self.labels[index]


class AnyColor(ColoredMNIST):
    """MNIST in the `any` coloring for training: each time a digit is drawn it is painted in a new color
    (any_colors), from torch's global random state, which the training engine seeds, checkpoints and
    restores (a resumed run draws the same colors). No color is fixed: `colors` is empty."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        super().__init__(images, labels, "any", colors=torch.empty(0, 3))

    def __getitem__(self, index):
        labels = self.labels[index]
        colors = any_colors(labels.reshape(-1)).reshape(*labels.shape, 3)
        return self.paint(self.to_rgb(self.images[index]), colors), labels


def in_coloring(images: torch.Tensor, labels: torch.Tensor, coloring: str, seed: int = TEST_COLOR_SEED) -> torch.Tensor:
    """Digits uint8 (N, 28, 28) with labels (N,) painted in a coloring (random colors from `seed`, by default
    the test digits' TEST_COLOR_SEED): float (N, 3, 28, 28) in [0, 1]."""
    return ColoredMNIST(images, labels, coloring, seed=seed)[torch.arange(len(labels))][0]


class UnpairedDomains(torch.utils.data.Dataset):
    """The CycleGAN's data: items (gray image, colored image, its color) from two disjoint halves of
    the digits, domain A in gray, domain B each in a random color (from the seed)."""

    coloring = "gray | random"

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0):
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        half = len(labels) // 2
        a, b = order[:half], order[half:2 * half]
        self.gray = ColoredMNIST(images[a], labels[a], "gray")
        self.colored = ColoredMNIST(images[b], labels[b], "random", seed=seed)

    def __len__(self) -> int:
        return len(self.gray)

    def __getitem__(self, index):
        return self.gray[index][0], self.colored[index][0], self.colored.colors[index]


# ----------------------------------------------------------------------------- the sample pack


def make_sample_pack(path=SAMPLE_PACK, data_dir=None, per_class: int = 100) -> Path:
    """Write the first `per_class` MNIST test digits of each class as a compressed uint8 .npz file."""
    images, labels = load_mnist("test", data_dir)
    indices = torch.cat([torch.nonzero(labels == d).flatten()[:per_class] for d in range(10)])
    return atomic_write(path, lambda tmp: np.savez_compressed(
        tmp, images=images[indices].numpy(), labels=labels[indices].numpy().astype(np.uint8),
        test_indices=indices.numpy().astype(np.int32)))


def read_npz(path, keys: tuple[str, ...], what: str, make: str) -> dict[str, np.ndarray]:
    """The arrays `keys` of a shipped .npz file (the sample pack, the factor pack). Raises DataError, naming
    `what` and the command `make` that writes it, if the file is missing, is a Git LFS pointer or is not
    readable."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"The {what} {path} is missing. {make}")
    pointer = lfs_pointer_hint(path)
    if pointer:
        raise DataError(f"The {what} {path} is not readable.{pointer}")
    try:
        with np.load(path, allow_pickle=False) as pack:
            return {key: pack[key] for key in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"The {what} {path} is not readable ({error}). {make}") from None


def load_sample_pack(path=SAMPLE_PACK) -> tuple[torch.Tensor, torch.Tensor]:
    """The sample pack as uint8 images (N, 28, 28) and int64 labels (N,). Raises DataError if the file is
    missing or is not a sample pack (a Git LFS pointer, a damaged file)."""
    make = "Make it with: python -m train sample-pack --data-dir DIR"
    pack = read_npz(path, ("images", "labels"), "sample pack", make)
    images, labels = pack["images"], pack["labels"]
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(f"The sample pack {path} does not hold 28 x 28 uint8 digits and their labels. {make}")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
