"""A user's image -> the model input (1, 3, 28, 28), and model outputs -> pictures (uint8 arrays, GIFs).

The models saw MNIST: a light stroke in one color on black, about 2.3 px wide, the digit's bounding box
scaled to 20 px and centred by its centre of mass in 28 x 28. `to_model_input` brings any picture there:
any file PIL reads (and HEIC), any PIL mode, bit depth or numpy dtype (floats in [0, 1] or [0, 255]),
the EXIF orientation of a phone photo, transparency (the alpha channel is the stroke), a photo of a digit
on paper, even unevenly lit (the ink becomes the stroke, in the ink's color), any size up to `MAX_PIXELS`. Only the digit's own
strokes are kept, not specks or a dark border at the picture's edge; a small digit on a large page is
cropped at full resolution, and a stroke much thinner than MNIST's is thickened to it. A 28 x 28 image is
taken as it is (it already is a model input, e.g. a sample digit or an earlier output).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import PIL.ExifTags
import PIL.Image
import PIL.ImageOps
import pillow_heif
import torch
import torch.nn.functional as F

from .files import atomic_write

pillow_heif.register_heif_opener()  # PIL reads HEIC/HEIF, iPhones' photos (0.06 s at import)

SIZE, BOX = 28, 20  # the MNIST canvas and the side of the digit's bounding box in it
MAX_PIXELS = 40_000_000  # larger pictures are refused (PIL decodes them in full)
PNG_DATA_URL = "data:image/png;base64,"  # what precedes a PNG's base64 bytes when it travels inline
WORK_SIDE = 256  # larger pictures are scaled down to this side before the stroke is found
STROKE_WIDTH = 1.7  # px at 28 x 28: 95% of MNIST's strokes are wider (the sample pack; median 2.3 px)
BLACK = 0.1  # a background darker than this (the median pixel) is black: light strokes on it are taken as they are


class ImageError(ValueError):
    """A picture that cannot be a digit: not an image, too large, or empty. The message says what to do."""


def open_image(source: str | os.PathLike | PIL.Image.Image) -> PIL.Image.Image:
    """A PIL image from a path (checked: an image file, at most MAX_PIXELS) or an image as it is."""
    if isinstance(source, PIL.Image.Image):
        image = source
    else:
        try:
            image = PIL.Image.open(source)
        except PIL.Image.DecompressionBombError:
            raise ImageError(far_too_large(Path(source).name)) from None
        except FileNotFoundError:
            raise ImageError(f"{Path(source).name} is no longer on the server (uploads are kept for 10 minutes): "
                             "upload it again.") from None
        except (PIL.UnidentifiedImageError, OSError):
            raise ImageError(not_an_image(Path(source).name, source)) from None
    if image.width * image.height > MAX_PIXELS:
        raise ImageError(f"The image is {image.width} x {image.height} pixels: too large. "
                         f"Scale it below {MAX_PIXELS // 1_000_000} megapixels.")
    if image.width < 1 or image.height < 1:
        raise ImageError("The image has no pixels.")
    return image


def not_an_image(name: str, path: str | os.PathLike | None = None) -> str:
    """The message for a file named `name` (stored at `path`, if known) that PIL cannot read."""
    if path is not None and os.path.isfile(path) and os.path.getsize(path) == 0:
        return f"{name} is an empty file (0 bytes): upload a picture of a digit."
    return f"{name} is not an image file this app can read (PNG, JPEG, HEIC, WebP, AVIF, GIF, BMP, TIFF ...)."


def far_too_large(name: str) -> str:
    """The message for a picture so large that PIL refuses to open it (over 179 megapixels)."""
    return f"{name} is far too large to be a digit: scale it below {MAX_PIXELS // 1_000_000} megapixels."


def to_rgba(image: PIL.Image.Image | np.ndarray) -> np.ndarray:
    """RGBA (H, W, 4) from any PIL mode or numpy image ((H, W), (H, W, 1|3|4); uint8, uint16, bool or
    float): uint8 for 8-bit pictures (PIL's 8-bit modes, uint8 arrays: almost every upload), so that a large
    one is scaled down before it becomes floats (a 40-megapixel photo would take 640 MB as float32), else
    float32 in [0, 1]. A uint8 RGBA array comes back as it is (not a copy)."""
    if isinstance(image, PIL.Image.Image):
        image = open_image(image)
        try:
            image.load()
            if image.getexif().get(PIL.ExifTags.Base.Orientation, 1) != 1:  # (exif_transpose copies any picture)
                image = PIL.ImageOps.exif_transpose(image)  # a phone photo: its pixels as they are shown
            if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit gray, float
                array = np.asarray(image, dtype=np.float64)
                if not np.isfinite(array).all():
                    raise ImageError("The image has NaN or infinite values.")
                white = _white_level(array, image.mode.startswith("I;16"), image.mode == "F")
                return _opaque_rgba(np.clip(array / white, 0, 1).astype(np.float32), 1)
            return np.array(image.convert("RGBA"))  # writable: torch takes it as it is
        except ImageError:
            raise
        except (OSError, ValueError, SyntaxError) as error:
            raise ImageError(f"The image could not be decoded ({error}).") from None
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or 0 in array.shape:
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4), not {array.shape}.")
    if array.dtype == np.uint8:
        return _opaque_rgba(array, 255)
    if array.dtype == bool:
        array = array.astype(np.float32)
    else:
        floating = not np.issubdtype(array.dtype, np.integer)
        array = array.astype(np.float32)
        if floating and not np.isfinite(array).all():
            raise ImageError("The image has NaN or infinite values.")
        array = array / _white_level(array, array.max() > 255 and not floating, floating)
    return _opaque_rgba(np.clip(array, 0, 1), 1)


def _white_level(array: np.ndarray, sixteen_bit: bool, floating: bool) -> float:
    """The value that means white: 1 for floats in [0, 1], 65535 for 16-bit data (integers up to 65535
    that are 16-bit or go beyond 255), else 255; floats beyond 255 and integers beyond 65535 are scaled by
    their maximum."""
    top = float(array.max()) if array.size else 0.0
    if floating and top <= 1:
        return 1.0
    if not floating and (sixteen_bit or top > 255) and top <= 65535:
        return 65535.0
    return 255.0 if top <= 255 else top


def _opaque_rgba(array: np.ndarray, opaque: float) -> np.ndarray:
    """Gray (H, W), RGB or RGBA (H, W, 3|4) -> RGBA (H, W, 4) of the same dtype, alpha `opaque` where the
    picture has none."""
    if array.ndim == 3 and array.shape[2] == 4:
        return array
    rgba = np.empty((*array.shape[:2], 4), dtype=array.dtype)
    rgba[:, :, :3] = array[:, :, None] if array.ndim == 2 else array
    rgba[:, :, 3] = opaque
    return rgba


def stroke_on_black(rgba: np.ndarray, only_digit: bool = True) -> np.ndarray:
    """RGBA (H, W, 4) in [0, 1] -> RGB (H, W, 3): the digit as a light stroke on black, whatever the
    picture's background, with only the digit's strokes kept (keep_digit; all of them with
    only_digit=False).

    Transparency in use: the alpha channel is the stroke, in the stroke's color (white if it is dark).
    Dark strokes (a picture whose typical pixel, the median, is light in every channel is paper; else
    light_strokes says which): the ink's darkness against the paper around it (a large-scale
    estimate, paper_level, so that shading and dim light leave no haze), in the channel where the ink
    stands out most (ink_channel: on a colored note), in the ink's color (white for black ink). Light
    strokes on black: the picture is the stroke already. Light strokes on a background that is not black
    (chalk on a board): their lightness above the darkest background around them, in their color.
    """
    rgb, alpha = rgba[:, :, :3], rgba[:, :, 3]
    if alpha.min() < 0.98:
        weight = alpha
    else:
        lightness, value = rgb.min(axis=2), rgb.max(axis=2)  # a dark ink's darkest channel, a light stroke's brightest
        if np.median(lightness) <= 0.5 and light_strokes(lightness, value):  # a light typical pixel is paper
            if np.median(value) < BLACK:
                return rgb * (keep_digit(value)[:, :, None] if only_digit else 1)
            background = 1 - paper_level(1 - value)  # the darkest value around each pixel
            weight = np.clip((value - background) / np.maximum(1 - background, 1e-3), 0, 1)
        else:
            ink = ink_channel(lightness, rgb)
            weight = np.clip(1 - ink / np.maximum(paper_level(ink), 1e-3), 0, 1)
        floor = np.median(weight)  # what the paper itself reads as, mostly noise
        weight = np.clip((weight - floor) / max(1 - floor, 1e-3), 0, 1)
    if only_digit:
        weight = weight * keep_digit(weight)
    return weight[:, :, None] * _stroke_color(rgb, weight)


def light_strokes(lightness: np.ndarray, value: np.ndarray) -> bool:
    """Whether a picture's strokes are lighter than its background, from each pixel's darkest channel
    (lightness, (H, W) in [0, 1]) and brightest (value): its lightest pixels (the top 0.1% of values)
    stand farther above the typical pixel (the median) than its darkest ones stand below it. The
    background is most of the picture, whatever its color or light: black ink on a yellow note or on paper
    photographed in dim light is dark on light, white chalk on a green board light on dark.

    stroke_on_black asks only where the median's darkest channel is 0.5 or less (else the picture is light
    paper): on a bright page, a digit under 0.1% of a phone photo's pixels is out of this rule's reach and
    a faint bright patch of paper would win. Read the other way round: a picture that the stroke covers for
    the most part (a thick red 0 cropped to its box is a black 0 on red paper to this rule), and a dim photo
    with a glare spot."""
    above = np.percentile(value, 99.9) - np.median(value)
    below = np.median(lightness) - np.percentile(lightness, 0.1)
    return bool(above > below)


def ink_channel(lightness: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(H, W): the measure in which dark ink stands out most below the paper (its darkest pixels, the lowest
    0.1%, farthest below the median): each pixel's darkest channel (lightness), unless one channel of rgb
    (H, W, 3) does better, as the red channel does for blue ink on a yellow note, whose blue is darker than
    the ink's."""
    candidates = [lightness, *rgb.transpose(2, 0, 1)]
    contrast = [np.subtract(*np.percentile(c, [50, 0.1])) for c in candidates]  # median and 0.1%: one partition
    return candidates[int(np.argmax(contrast))]  # the first of equals: lightness on gray or white paper


def paper_level(lightness: np.ndarray) -> np.ndarray:
    """The paper's lightness around each pixel (H, W): the lightest value within a fifth of the picture's
    side (wider than a stroke, so the ink does not count), smoothed over the same window."""
    from scipy import ndimage  # imported when a picture arrives, not at the app's start-up (0.3 s)

    k = max(3, max(lightness.shape) // 5) | 1
    level = ndimage.maximum_filter(np.asarray(lightness, dtype=np.float32), size=k, mode="nearest")
    # the mean over the part of the window inside the picture: sums over zero padding / the share of the
    # window inside it (the product of its share along each axis)
    rows, columns = (ndimage.uniform_filter1d(np.ones(n, dtype=np.float32), size=k, mode="constant") for n in level.shape)
    return ndimage.uniform_filter(level, size=k, mode="constant") / np.outer(rows, columns)


def keep_digit(weight: np.ndarray) -> np.ndarray:
    """A mask (H, W) of the digit's strokes in a stroke weight map: the connected parts (8-connected,
    above a third of the strongest weight) that hold at least a tenth of the largest part's mass, with
    their soft edges. Where some part that does not touch the picture's edge spans a tenth of its side,
    the parts that touch it (a dark border, a speck at the edge) are left out."""
    from scipy import ndimage  # imported when a picture arrives, not at the app's start-up (0.3 s)

    if weight.max() <= 0:
        return np.ones_like(weight)
    labels, count = ndimage.label(weight > weight.max() / 3, structure=np.ones((3, 3)))
    mass = ndimage.sum_labels(weight, labels, index=np.arange(1, count + 1))
    extent = np.array([max(rows.stop - rows.start, cols.stop - cols.start) for rows, cols in ndimage.find_objects(labels)])
    edge = np.zeros(count + 1, dtype=bool)
    edge[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
    inside = ~edge[1:] & (extent >= max(weight.shape) / 10)
    candidates = inside if inside.any() else np.ones(count, dtype=bool)
    kept = candidates & (mass >= 0.1 * mass[candidates].max())
    mask = np.concatenate([[False], kept])[labels]
    return ndimage.binary_dilation(mask, iterations=2).astype(weight.dtype)


def _stroke_color(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The stroke's color at full value: the weighted mean of rgb / max(rgb); white for dark strokes."""
    strong = weight > 0.8 * weight.max() if weight.max() > 0 else weight >= 0
    value = rgb[strong].max(axis=1)
    if value.size == 0 or value.mean() < 0.3:
        return np.ones(3, dtype=np.float32)
    color = (rgb[strong] / np.maximum(value, 1e-6)[:, None]).mean(axis=0)
    return (color / color.max()).astype(np.float32)


def stroke_width(mass: torch.Tensor) -> float:
    """The strokes' mean width in px in a weight map (H, W): their mass (in units of the strongest
    weight) over half the length of their outline, the pixels of the strong part (over half the
    strongest weight) that its erosion removes. 2.3 for the median MNIST digit."""
    strong = F.pad((mass > 0.5 * mass.max()).float(), (1, 1, 1, 1))[None, None]
    outline = (strong + F.max_pool2d(-strong, 3, stride=1, padding=1)).sum()  # strong minus its erosion
    return float(mass.sum() / mass.max() / (0.5 * outline).clamp_min(1))


def center_digit(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) stroke on black -> (3, 28, 28): the bounding box scaled to 20 px, centred by mass, the
    strongest stroke at full value; strokes that would be thinner than 95% of MNIST's are first
    thickened to that width (STROKE_WIDTH). Raises ImageError if there is no stroke (nothing above 0.1)."""
    mass = rgb.amax(0)
    if mass.max() < 0.1:
        raise ImageError("The image is empty: there is no stroke to read. Draw or upload a digit.")
    rows, cols = torch.nonzero(mass > 0.1 * mass.max(), as_tuple=True)
    crop = rgb[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    crop = crop / crop.amax()
    scale = BOX / max(crop.shape[1:])
    width = stroke_width(crop.amax(0))
    if width * scale < STROKE_WIDTH:  # grow the strokes by max-filtering (they may grow past the box)
        from scipy import ndimage

        k = 2 * round((STROKE_WIDTH / scale - width) / 2) + 1
        crop = torch.from_numpy(ndimage.maximum_filter(F.pad(crop, (k // 2,) * 4).numpy(), size=(1, k, k), mode="nearest"))
        scale = BOX / max(crop.shape[1:])
    height, width = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[2] * scale))
    crop = resize(crop[None], (height, width))[0].clamp(0, 1)
    weight = crop.amax(0)
    total = weight.sum().clamp_min(1e-6)
    center_y = (weight.sum(1) * torch.arange(height)).sum() / total
    center_x = (weight.sum(0) * torch.arange(width)).sum() / total
    top = int(round(SIZE / 2 - 0.5 - center_y.item()))
    left = int(round(SIZE / 2 - 0.5 - center_x.item()))
    top, left = min(max(top, 0), SIZE - height), min(max(left, 0), SIZE - width)
    canvas = torch.zeros(3, SIZE, SIZE)
    canvas[:, top:top + height, left:left + width] = crop
    return canvas


def _to_tensor(rgba: np.ndarray, side: int = WORK_SIDE) -> torch.Tensor:
    """to_rgba's (H, W, 4) -> float (4, H', W') in [0, 1], scaled down (antialiased; uint8 scaled as uint8,
    before it becomes floats) so that its longer side is at most `side`."""
    tensor = torch.from_numpy(np.require(rgba, requirements=("C", "W"))).permute(2, 0, 1)[None]  # read-only: copied
    longer = max(rgba.shape[:2])
    if longer > side:
        size = (max(1, round(rgba.shape[0] * side / longer)), max(1, round(rgba.shape[1] * side / longer)))
        tensor = resize(tensor, size)
    return tensor[0].float() / 255 if tensor.dtype == torch.uint8 else tensor[0].float()


def resize(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) float or uint8 -> (N, C, *size) of the same dtype: antialiased bilinear (F.interpolate). An output 1 px wide is
    computed transposed, as an output 1 px high: torch 2.14.1 gives every row of a 1 px wide output the
    first row's value (a tall thin stroke's box came out empty)."""
    if size[1] == 1:
        return resize(tensor.transpose(2, 3), (size[1], size[0])).transpose(2, 3)
    return F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)


def _stroke(rgba: torch.Tensor, only_digit: bool = True) -> torch.Tensor:
    """(4, H, W) -> the stroke on black (3, H, W) (stroke_on_black)."""
    stroke = stroke_on_black(rgba.permute(1, 2, 0).numpy(), only_digit)
    return torch.from_numpy(np.ascontiguousarray(stroke)).permute(2, 0, 1).float()


def to_model_input(image: PIL.Image.Image | np.ndarray | str | os.PathLike) -> torch.Tensor:
    """Any picture of one digit -> the models' input: float (1, 3, 28, 28) in [0, 1]. Raises ImageError
    with a message for the user: not an image, too large, unreadable, NaN values, or no stroke.

    A picture larger than WORK_SIDE is read at that side; where the digit then spans less than a quarter
    of it, the digit's region (twice its size) is read again from the full-resolution picture."""
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image)
    rgba = to_rgba(image)
    if rgba.shape[:2] == (SIZE, SIZE):  # a model input already: every stroke kept, nothing moved
        rgb = _stroke(_to_tensor(rgba), only_digit=False)
        if rgb.amax() < 0.1:
            raise ImageError("The image is empty: there is no stroke to read. Draw or upload a digit.")
        return rgb[None]
    work = _to_tensor(rgba)
    stroke = _stroke(work)
    mass = stroke.amax(0)
    factor = max(rgba.shape[:2]) / max(work.shape[1:])  # full-resolution px per working px
    if factor > 1 and mass.max() >= 0.1:
        rows, cols = torch.nonzero(mass > 0.1 * mass.max(), as_tuple=True)
        box = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        if box < WORK_SIDE / 4:  # a small digit on a large page
            margin = int(box)
            top, bottom = (int(v * factor) for v in (max(0, rows.min() - margin), rows.max() + 1 + margin))
            left, right = (int(v * factor) for v in (max(0, cols.min() - margin), cols.max() + 1 + margin))
            stroke = _stroke(_to_tensor(rgba[top:bottom, left:right]))
    return center_digit(stroke)[None]


# ----------------------------------------------------------------------------- pictures of outputs


def to_picture(x: torch.Tensor) -> np.ndarray:
    """One image (3, H, W) or (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    x = x.detach().float().cpu().reshape(3, *x.shape[-2:])
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def grid_picture(images: torch.Tensor, columns: int, padding: int = 1) -> np.ndarray:
    """A grid of images (N, 3, H, W) in [0, 1], `columns` per row (at most N), on a gray lattice `padding`
    px wide -> uint8 (H', W', 3). The layout of torchvision.utils.make_grid (tests/test_images.py), which is
    not imported here: importing torchvision loads its models and ops, 2 s of the app's start-up."""
    images = images.detach().float().cpu().clamp(0, 1)
    n, channels, height, width = images.shape
    columns = min(columns, n)
    rows = -(-n // columns)
    tiles = torch.full((rows * columns, channels, height + padding, width + padding), 0.25)
    tiles[:n, :, padding:, padding:] = images  # each tile with the lattice above and left of it
    grid = tiles.reshape(rows, columns, channels, height + padding, width + padding).permute(2, 0, 3, 1, 4)
    grid = grid.reshape(channels, rows * (height + padding), columns * (width + padding))
    return to_picture(F.pad(grid, (0, padding, 0, padding), value=0.25))  # and the lattice's last lines


def error_picture(x: torch.Tensor, reconstruction: torch.Tensor) -> np.ndarray:
    """The per-pixel absolute error (mean over RGB) in a black-red-yellow-white heat scale, uint8 (H, W, 3)."""
    error = (x - reconstruction).abs().mean(dim=-3).reshape(*x.shape[-2:]).clamp(0, 1)
    heat = torch.stack([3 * error, 3 * error - 1, 3 * error - 2]).clamp(0, 1)
    return to_picture(heat)


def enlarge(picture: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of a uint8 (H, W, 3) picture: crisp pixels."""
    return picture.repeat(factor, axis=0).repeat(factor, axis=1)


def write_gif(frames: torch.Tensor, path: str | os.PathLike, factor: int = 8, milliseconds: int = 80) -> Path:
    """An animated GIF of frames (N, 3, H, W), enlarged `factor` times, played forward and back, looping."""
    pictures = [PIL.Image.fromarray(enlarge(to_picture(frame), factor)) for frame in frames]
    pictures = pictures + pictures[-2:0:-1]
    path = Path(path)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=milliseconds, loop=0)
    return path


def png_bytes(picture: np.ndarray) -> bytes:
    """A uint8 picture (H, W, 3) as a PNG file's bytes."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(picture).save(buffer, format="png")
    return buffer.getvalue()


def save_png(data: bytes, folder: str | os.PathLike) -> Path:
    """Save a PNG (its bytes) as `folder/<content hash>.png`, once: a file of that name already holds it.
    Written to a temporary file and renamed, so a reader (a page loading the image while another
    request makes the same picture) never sees a partial file."""
    path = Path(folder) / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
    if not path.exists():
        atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return path
