"""A user's image -> the model input (1, 3, 28, 28), and model outputs -> pictures (uint8 arrays, GIFs).

The models saw MNIST: a light stroke in one color on black, the digit's bounding box scaled to 20 px
and centred by its centre of mass in 28 x 28. `to_model_input` brings any picture there: any PIL mode
or numpy dtype, transparency (the alpha channel is the stroke), a photo of a digit on light paper (the
ink becomes the stroke, in the ink's color), any size up to `MAX_PIXELS`. A 28 x 28 image is taken as
it is (it already is a model input, e.g. a sample digit or an earlier output).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

SIZE, BOX = 28, 20  # the MNIST canvas and the side of the digit's bounding box in it
MAX_PIXELS = 40_000_000  # larger pictures are refused (PIL decodes them in full)
PNG_DATA_URL = "data:image/png;base64,"  # what precedes a PNG's base64 bytes when it travels inline
WORK_SIDE = 256  # larger pictures are scaled down to this side before the stroke is found


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
            raise ImageError(f"{Path(source).name} is far too large to be a digit: scale it below "
                             f"{MAX_PIXELS // 1_000_000} megapixels.") from None
        except (PIL.UnidentifiedImageError, OSError):
            raise ImageError(f"{Path(source).name} is not an image file this app can read "
                             "(PNG, JPEG, GIF, BMP, WebP, TIFF ...).") from None
    if image.width * image.height > MAX_PIXELS:
        raise ImageError(f"The image is {image.width} x {image.height} pixels: too large. "
                         f"Scale it below {MAX_PIXELS // 1_000_000} megapixels.")
    if image.width < 1 or image.height < 1:
        raise ImageError("The image has no pixels.")
    return image


def to_rgba(image: PIL.Image.Image | np.ndarray) -> np.ndarray:
    """Float RGBA (H, W, 4) in [0, 1] from any PIL mode or numpy image ((H, W), (H, W, 1|3|4); uint8,
    uint16, bool or float)."""
    if isinstance(image, PIL.Image.Image):
        image = open_image(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit gray: scale by the type's range
            array = np.asarray(image, dtype=np.float64)
            top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
            return _gray_rgba(array / top)
        try:
            image.load()
            return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        except (OSError, ValueError) as error:
            raise ImageError(f"The image could not be decoded ({error}).") from None
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or 0 in array.shape:
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4), not {array.shape}.")
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / (65535 if array.max() > 255 else 255)
    else:
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise ImageError("The image has NaN or infinite values.")
        array = array / 255 if array.max() > 1 else array
    array = np.clip(array, 0, 1)
    if array.ndim == 2:
        return _gray_rgba(array)
    if array.shape[2] == 3:
        return np.concatenate([array, np.ones_like(array[:, :, :1])], axis=2)
    return array


def _gray_rgba(gray: np.ndarray) -> np.ndarray:
    gray = np.clip(gray, 0, 1).astype(np.float32)
    return np.stack([gray, gray, gray, np.ones_like(gray)], axis=2)


def stroke_on_black(rgba: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3): the digit as a light stroke on black, whatever the picture's background.

    Transparency in use: the alpha channel is the stroke, in the stroke's color (white if it is dark).
    A light background (the border's median is light): the ink's darkness is the stroke, in the ink's
    color (white for black ink). Otherwise (a dark background) the picture is the stroke already.
    """
    rgb, alpha = rgba[:, :, :3], rgba[:, :, 3]
    if alpha.min() < 0.98:
        return alpha[:, :, None] * _stroke_color(rgb, alpha)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    paper = np.median(border.min(axis=1))
    if paper <= 0.5:
        return rgb
    ink = np.clip((paper - rgb.min(axis=2)) / paper, 0, 1)
    return ink[:, :, None] * _stroke_color(rgb, ink)


def _stroke_color(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The stroke's color at full value: the weighted mean of rgb / max(rgb); white for dark strokes."""
    strong = weight > 0.8 * weight.max() if weight.max() > 0 else weight >= 0
    value = rgb[strong].max(axis=1)
    if value.size == 0 or value.mean() < 0.3:
        return np.ones(3, dtype=np.float32)
    color = (rgb[strong] / np.maximum(value, 1e-6)[:, None]).mean(axis=0)
    return (color / color.max()).astype(np.float32)


def center_digit(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) stroke on black -> (3, 28, 28): the bounding box scaled to 20 px, centred by mass."""
    mass = rgb.amax(0)
    if mass.max() < 0.1:
        raise ImageError("The image is empty: there is no stroke to read. Draw or upload a digit.")
    rows, cols = torch.nonzero(mass > 0.1 * mass.max(), as_tuple=True)
    crop = rgb[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = BOX / max(crop.shape[1:])
    height, width = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[2] * scale))
    crop = F.interpolate(crop[None], size=(height, width), mode="bilinear", antialias=True,
                         align_corners=False)[0].clamp(0, 1)
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


def to_model_input(image: PIL.Image.Image | np.ndarray | str | os.PathLike) -> torch.Tensor:
    """Any picture of one digit -> the models' input: float (1, 3, 28, 28) in [0, 1]. Raises ImageError."""
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image)
    rgba = to_rgba(image)
    if rgba.shape[:2] == (SIZE, SIZE):
        rgb = torch.from_numpy(np.ascontiguousarray(stroke_on_black(rgba))).permute(2, 0, 1).float()
        if rgb.amax() < 0.1:
            raise ImageError("The image is empty: there is no stroke to read. Draw or upload a digit.")
        return rgb[None]
    side = max(rgba.shape[:2])
    tensor = torch.from_numpy(np.ascontiguousarray(rgba)).permute(2, 0, 1)[None].float()
    if side > WORK_SIDE:
        size = (max(1, round(rgba.shape[0] * WORK_SIDE / side)), max(1, round(rgba.shape[1] * WORK_SIDE / side)))
        tensor = F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)
    rgb = stroke_on_black(tensor[0].permute(1, 2, 0).numpy())
    return center_digit(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float())[None]


# ----------------------------------------------------------------------------- pictures of outputs


def to_picture(x: torch.Tensor) -> np.ndarray:
    """One image (3, H, W) or (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    x = x.detach().float().cpu().reshape(3, *x.shape[-2:])
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def grid_picture(images: torch.Tensor, columns: int, padding: int = 1) -> np.ndarray:
    """A grid of images (N, 3, H, W), `columns` per row, on a gray lattice -> uint8 (H', W', 3)."""
    grid = make_grid(images.detach().float().cpu().clamp(0, 1), nrow=columns, padding=padding, pad_value=0.25)
    return to_picture(grid)


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
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path
