"""A user's picture -> the model input: any mode, size, background; bad pictures get clear errors."""

import functools
import io
import json
import warnings

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pytest
import torch

from explorer.images import (MAX_PIXELS, STROKE_WIDTH, ImageError, enlarge, error_picture, grid_picture, paper_level,
                             resize, stroke_width, to_model_input, to_picture, to_rgba, write_gif)

from .conftest import ROOT

CASES = ROOT / "tests" / "cases"  # a copy of ../shared/cases: pictures that broke similar apps


@pytest.fixture(scope="module")
def digits(pack):
    """Twenty real test digits (uint8 28x28) with their labels."""
    images, labels = pack
    index = torch.arange(0, 1000, 50)
    return images[index].numpy(), labels[index]


@pytest.fixture(scope="module")
def classifier():
    from explorer import load_model
    return load_model("weights/classifier.safetensors")


def read(classifier, pictures) -> torch.Tensor:
    return classifier.predict(torch.cat([to_model_input(p) for p in pictures]))


@pytest.mark.parametrize("variant", ["gray 280", "photo on paper", "red ink on paper", "RGBA black strokes",
                                     "16-bit", "palette", "off-centre", "float array", "tall"])
def test_every_kind_of_picture_is_read_as_its_digit(variant, digits, classifier):
    """Each picture, once prepared, is centred like MNIST: the classifier reads (almost) all of them."""
    images, labels = digits
    make = {
        "gray 280": lambda g: PIL.Image.fromarray(g).resize((280, 280), PIL.Image.BILINEAR),
        "photo on paper": lambda g: PIL.Image.fromarray(235 - (g * 0.8).astype(np.uint8)).resize((300, 200)),
        "red ink on paper": lambda g: PIL.Image.fromarray(np.stack([np.full_like(g, 255), 255 - g, 255 - g], 2)).resize((150, 150)),
        "RGBA black strokes": lambda g: PIL.Image.fromarray(np.stack([0 * g, 0 * g, 0 * g, g], 2), "RGBA").resize((100, 100)),
        "16-bit": lambda g: PIL.Image.fromarray(g.astype(np.uint16) * 257).resize((56, 56)),
        "palette": lambda g: PIL.Image.fromarray(g).resize((64, 64)).convert("P"),
        "off-centre": lambda g: PIL.Image.fromarray(np.pad(g, ((0, 100), (60, 0)))),
        "float array": lambda g: np.kron(g / 255.0, np.ones((3, 3))),
        "tall": lambda g: PIL.Image.fromarray(np.pad(g, ((60, 60), (0, 0)))).resize((56, 296)),
    }[variant]
    predictions = read(classifier, [make(g) for g in images])
    assert (predictions == labels).float().mean() >= 0.9


def test_ink_color_is_kept_and_light_paper_becomes_black(digits):
    gray = digits[0][3]
    red_on_paper = np.stack([np.full_like(gray, 255), 255 - gray, 255 - gray], 2)
    x = to_model_input(PIL.Image.fromarray(red_on_paper).resize((140, 140), PIL.Image.NEAREST))
    stroke = x[0].amax(0) > 0.5
    assert (x[0, 1][stroke] / x[0, 0][stroke]).max() < 0.25  # a red stroke: green and blue well below red
    assert x[0, :, 0, :].max() < 0.05  # black background (the top row)


def test_paper_level_is_the_lightest_paper_around_each_pixel():
    """Even paper is its own level up to the edges (the window's mean counts only the pixels inside the
    picture); a stroke narrower than the window does not lower it; a linear shade is followed, its
    level between the shade and the lightest paper a window away (fp32 sums of 65 values: 1e-6)."""
    paper = np.full((320, 240), 0.8, np.float32)
    paper[100:220, 110:125] = 0.1  # a dark stroke 15 px wide; the window is 320 // 5 | 1 = 65 px
    assert np.abs(paper_level(paper) - 0.8).max() < 1e-6
    shade = np.tile(np.linspace(0.9, 0.5, 240, dtype=np.float32), (320, 1))
    level = paper_level(shade)
    assert np.all(level >= shade - 1e-6) and np.all(level <= 0.9 + 1e-6) and np.all(np.diff(level, axis=1) <= 1e-6)


def test_mnist_layout_box_20_pixels_centred_by_mass(digits):
    big = PIL.Image.fromarray(np.pad(digits[0][5], ((10, 90), (0, 40))))
    x = to_model_input(big)[0].amax(0)
    rows, cols = torch.nonzero(x > 0.1, as_tuple=True)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (20, 21)
    grid = torch.arange(28).float()
    center = ((x.sum(1) * grid).sum() / x.sum(), (x.sum(0) * grid).sum() / x.sum())
    assert all(abs(c - 13.5) <= 1 for c in center)


@pytest.mark.parametrize("picture, message", [
    (np.zeros((100, 100), np.uint8), "empty"),
    (np.full((50, 50, 3), 255, np.uint8), "empty"),  # blank white paper
    (np.zeros((28, 28, 3), np.float32), "empty"),
    (np.zeros((5, 5, 7)), "must be"),
    (np.full((30, 30), np.nan), "NaN"),
])
def test_unusable_pictures_get_clear_errors(picture, message):
    with pytest.raises(ImageError, match=message):
        to_model_input(picture)


def test_files_that_are_not_images_or_far_too_large(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match="notes.txt is not an image"):
        to_model_input(text)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"^empty.png is an empty file \(0 bytes\): upload a picture of a digit.$"):
        to_model_input(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="gone.png is no longer on the server .* upload it again"):
        to_model_input(tmp_path / "gone.png")  # an upload that gradio's cache cleaner deleted
    huge = tmp_path / "huge.png"
    side = int(MAX_PIXELS ** 0.5) + 10
    PIL.Image.new("1", (side, side)).save(huge)  # 1-bit: a few kB on disk, 40+ megapixels decoded
    with pytest.raises(ImageError, match="too large"):
        to_model_input(huge)


@pytest.mark.parametrize("case", json.loads((CASES / "cases.json").read_text()), ids=lambda case: case["file"])
def test_pictures_that_broke_similar_apps(case, classifier):
    x = to_model_input(CASES / case["file"])
    mass = x[0].amax(0)
    rows, cols = torch.nonzero(mass > 0.3, as_tuple=True)
    expect = {"1 (visible)": "1", "upright 7": "7"}.get(case["expect"], case["expect"])
    if case["expect"].startswith("a horizontal bar"):
        assert rows.max() - rows.min() + 1 <= 3 and cols.max() - cols.min() + 1 >= 19  # 600 x 10 px: 20 x 0.33
    else:
        assert int(classifier.predict(x)) == int(expect), case["what"]
    if case["expect"] == "1 (visible)":  # a 2 px pen on an 800 px page: thickened to MNIST's width, at full value
        assert mass.max() == 1 and stroke_width(mass) >= 0.9 * STROKE_WIDTH
    if case["expect"] == "upright 7":  # as the photo is shown: taller than wide, its bar at the top
        assert rows.max() - rows.min() > cols.max() - cols.min() and mass[:14].sum() > mass[14:].sum()


def _with_alpha(gray: np.ndarray, mode: str, under: int) -> PIL.Image.Image:
    """A black digit whose alpha is the stroke, with `under` as the color of the transparent pixels."""
    color = np.where(gray > 0, 0, under).astype(np.uint8)
    if mode == "LA":
        return PIL.Image.fromarray(np.stack([color, gray], 2), "LA")
    rgba = PIL.Image.fromarray(np.stack([color, color, color, gray], 2), "RGBA")
    return rgba if mode == "RGBA" else rgba.convert("PA")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
@pytest.mark.parametrize("under", [0, 255])
def test_transparency_in_every_mode_is_the_stroke(mode, under, digits, classifier):
    images, labels = digits
    pictures = [_with_alpha(np.asarray(PIL.Image.fromarray(g).resize((84, 84))), mode, under) for g in images]
    assert (read(classifier, pictures) == labels).float().mean() >= 0.9


@pytest.mark.parametrize("make", [
    lambda g: PIL.Image.fromarray((65535 - g.astype(np.uint16) * 257).astype("<u2")),  # I;16: dark ink, light paper
    lambda g: PIL.Image.fromarray(g.astype(np.int32) * 1000),  # I: 32-bit integers beyond 16 bits
    lambda g: PIL.Image.fromarray(g.astype(np.float32) / 255),  # F: float in [0, 1] (a float TIFF)
    lambda g: PIL.Image.fromarray(g.astype(np.float32)),  # F: float in [0, 255]
    lambda g: 1 - g.astype(np.float32) / 255,  # a notebook's float array: dark ink on white
    lambda g: g.astype(np.float64) / 255,  # float in [0, 1], light ink on black
], ids=["16-bit paper", "32-bit", "float 0-1", "float 0-255", "float array paper", "float array"])
def test_every_bit_depth_and_value_range(make, digits, classifier):
    images, labels = digits
    pictures = [make(np.asarray(PIL.Image.fromarray(g).resize((56, 56)))) for g in images]
    assert (read(classifier, pictures) == labels).float().mean() >= 0.9


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32])
def test_integers_beyond_16_bits_are_scaled_by_their_maximum(dtype):
    """An integer array (a notebook's, a scientific camera's) whose values go beyond 65535 is scaled by its
    maximum, not clipped to white at 65535; up to 65535 it is 16-bit data."""
    rgba = to_rgba(np.array([[0, 50_000, 100_000]], dtype=dtype))
    np.testing.assert_allclose(rgba[0, :, 0], [0, 0.5, 1])
    np.testing.assert_allclose(rgba[0, :, 3], 1)
    np.testing.assert_allclose(to_rgba(np.array([[0, 300, 65535]], dtype=dtype))[0, :, 0], [0, 300 / 65535, 1])


# EXIF orientation -> how the stored pixels were made from the upright picture (the EXIF spec: 6 means
# "rotate 90 degrees clockwise to show it", so its pixels are the upright picture turned counterclockwise)
STORED = {1: None, 2: PIL.Image.FLIP_LEFT_RIGHT, 3: PIL.Image.ROTATE_180, 4: PIL.Image.FLIP_TOP_BOTTOM,
          5: PIL.Image.TRANSPOSE, 6: PIL.Image.ROTATE_90, 7: PIL.Image.TRANSVERSE, 8: PIL.Image.ROTATE_270}


@pytest.mark.parametrize("suffix", ["jpg", "heic"])  # HEIC: iPhones' photos (libheif stores the tag as a transformation)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_the_upright_digit(orientation, suffix, digits, tmp_path):
    upright = PIL.Image.fromarray(255 - digits[0][7]).resize((60, 90))  # dark ink on white, as a photo
    stored = upright.transpose(STORED[orientation]) if STORED[orientation] is not None else upright
    exif = PIL.Image.Exif()
    exif[274] = orientation
    path = tmp_path / f"photo-{orientation}.{suffix}"
    stored.convert("RGB").save(path, quality=100, exif=exif.tobytes())
    expected = to_model_input(upright.convert("RGB"))
    assert (to_model_input(path) - expected).abs().mean() < 0.02  # the same digit, compression's noise aside


def _photo(gray: np.ndarray, ink, shade: float, border: int, speck: bool) -> np.ndarray:
    """A photo of a digit on paper: ink of the given RGB darkness, paper lit from one corner (its
    lightness falls by `shade` across), a dark desk `border` px wide along the left and bottom edges,
    and a black speck at the top edge."""
    picture = np.asarray(PIL.Image.fromarray(gray).resize((200, 200), PIL.Image.BILINEAR)).astype(np.float32) / 255
    picture = np.pad(picture, 60)
    y, x = np.mgrid[:320, :320] / 320
    paper = 0.95 - shade * (x + y) / 2
    rgb = paper[:, :, None] * (1 - picture[:, :, None] * (1 - np.asarray(ink)))
    rgb[:, :border] = rgb[-border or 320:] = 0.15
    if speck:
        rgb[:6, 150:156] = 0.0
    return (rgb * 255).astype(np.uint8)


@pytest.mark.parametrize("ink", [(0.1, 0.1, 0.1), (0.15, 0.2, 0.45), (0.6, 0.1, 0.1)], ids=["black", "blue", "red"])
@pytest.mark.parametrize("shade, border, speck", [(0.4, 0, False), (0.0, 25, True), (0.35, 25, True)],
                         ids=["shaded", "border+speck", "shaded+border+speck"])
def test_photos_on_uneven_paper_with_borders_and_specks(ink, shade, border, speck, digits, classifier):
    """The digit as on clean paper: no haze from the shading, no border, no speck (the same model input
    to within about a percent: 0.2-1.0% measured, the pictures scaled down in 8 bits), and read as its digit."""
    images, labels = digits
    clean = torch.cat([to_model_input(_photo(g, ink, 0.0, 0, False)) for g in images])
    photos = torch.cat([to_model_input(_photo(g, ink, shade, border, speck)) for g in images])
    assert (photos - clean).abs().mean() < 0.0125
    assert (classifier.predict(photos) == labels).float().mean() >= 0.9


@pytest.mark.parametrize("pen", [1, 2, 3])
def test_thin_pens_are_thickened_to_mnist_strokes(pen, classifier):
    """A 1 and a 7 drawn with a pen of 1-3 px on a 600 px page: MNIST-wide strokes, read right."""
    pictures = []
    for points in ([(300, 100), (300, 500)], [(180, 120), (420, 120), (260, 500)]):
        page = PIL.Image.new("L", (600, 600), 255)
        PIL.ImageDraw.Draw(page).line(points, fill=0, width=pen)
        pictures.append(page)
    x = torch.cat([to_model_input(p) for p in pictures])
    assert all(stroke_width(image.amax(0)) >= 0.9 * STROKE_WIDTH for image in x)
    assert classifier.predict(x).tolist() == [1, 7]


@pytest.mark.parametrize("n, columns, padding", [(6, 3, 1), (7, 3, 2), (5, 8, 1), (1, 1, 0)])
def test_grid_picture_is_torchvisions_make_grid(n, columns, padding):
    from torchvision.utils import make_grid

    images = torch.rand(n, 3, 28, 20) * 1.2 - 0.1
    expected = to_picture(make_grid(images.clamp(0, 1), nrow=columns, padding=padding, pad_value=0.25))
    assert np.array_equal(grid_picture(images, columns, padding), expected)


def test_output_pictures_and_gif(tmp_path):
    images = torch.rand(6, 3, 28, 28)
    assert to_picture(images[0]).shape == (28, 28, 3) and to_picture(images[0]).dtype == np.uint8
    assert grid_picture(images, columns=3).shape == (2 * 29 + 1, 3 * 29 + 1, 3)
    assert error_picture(images[:1], images[:1]).max() == 0
    assert error_picture(torch.zeros(1, 3, 28, 28), torch.ones(1, 3, 28, 28)).min() == 255
    assert enlarge(to_picture(images[0]), 4).shape == (112, 112, 3)
    gif = PIL.Image.open(write_gif(images, tmp_path / "path.gif", factor=2))
    assert gif.size == (56, 56) and gif.n_frames == 6 + 4  # forward, then back without repeating the ends


def _painted(gray: np.ndarray, background, ink) -> np.ndarray:
    """A real digit at 200 px on a 320 px background of one RGB color, its strokes in another (the
    digit's gray level mixes the two), with a little camera noise."""
    stroke = np.asarray(PIL.Image.fromarray(gray).resize((200, 200), PIL.Image.BILINEAR)).astype(np.float32) / 255
    stroke = np.pad(stroke, 60)[:, :, None]
    noise = np.random.default_rng(0).normal(0, 0.005, stroke.shape)
    rgb = np.asarray(background) * (1 - stroke) + np.asarray(ink) * stroke + noise
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


@functools.lru_cache(maxsize=None)
def _clean_inputs(key: bytes, background, ink) -> torch.Tensor:
    return torch.cat([to_model_input(_painted(g, background, ink)) for g in np.frombuffer(key, np.uint8).reshape(-1, 28, 28)])


def _clean(images: np.ndarray, background, ink) -> torch.Tensor:
    """The model inputs of the digits painted on clean paper (computed once for every case that shares it)."""
    return _clean_inputs(images.tobytes(), background, ink)


WHITE, BLACK_INK, BOARD = (1.0, 1.0, 1.0), (0.02, 0.02, 0.02), (40 / 255, 90 / 255, 60 / 255)


@pytest.mark.parametrize("background, ink, clean, within", [
    ((0.45, 0.45, 0.45), BLACK_INK, (WHITE, BLACK_INK), 0.015),                 # paper in dim light
    ((110 / 255,) * 3, (95 / 255,) * 3, (WHITE, BLACK_INK), 0.04),              # dark paper, ink barely darker (a)
    ((1.0, 235 / 255, 100 / 255), BLACK_INK, (WHITE, BLACK_INK), 0.015),        # a yellow note
    ((150 / 255, 240 / 255, 120 / 255), BLACK_INK, (WHITE, BLACK_INK), 0.015),  # a green note
    ((1.0, 235 / 255, 100 / 255), (0.1, 0.1, 0.8), (WHITE, (0.1, 0.1, 0.8)), 0.015),  # blue ink on a yellow note
    (BOARD, (0.95, 0.95, 0.95), ((0, 0, 0), WHITE), 0.015),                     # white chalk on a green board
    (BOARD, (1.0, 0.9, 0.3), ((0, 0, 0), (1.0, 0.9, 0.3)), 0.015),              # yellow chalk on it
    ((60 / 255,) * 3, WHITE, ((0, 0, 0), WHITE), 0.015),                        # white strokes on dark gray
], ids=["dim paper", "dark paper", "yellow note", "green note", "blue on yellow", "chalk", "yellow chalk", "dark gray"])
def test_any_background_color_or_light_gives_the_digit_as_on_clean_paper(background, ink, clean, within, digits,
                                                                          classifier):
    """Whether the strokes are darker or lighter than the background is read from the picture, not from
    its brightness (paper under dim light, a colored note, a chalkboard): the same model input as the digit
    on clean paper (white paper for dark ink, black for light strokes; a stroke keeps its color) to within a
    few percent, and read as its digit. Before, a background darker than mid-gray was taken for the strokes:
    a filled square with the digit as a hole. (a) The ink 15 levels below its paper: the camera noise is 9%
    of that contrast, and the stroke is scaled up by its inverse (0.024 measured; 0.0009-0.0088 for the
    others)."""
    images, labels = digits[0][::2], digits[1][::2]  # ten digits, one of each class
    x = torch.cat([to_model_input(_painted(g, background, ink)) for g in images])
    assert (x - _clean(images, *clean)).abs().mean() < within
    assert (classifier.predict(x) == labels).float().mean() >= 0.9


def test_every_sample_digit_comes_back_as_it_was(pack):
    """A 28 x 28 picture is a model input already (the page sends its sample back as one): each of the
    1,000 sample digits is taken pixel for pixel, faint joins and all (keep_digit dropped the tail of some
    5s and the hook of some 2s, 3 in 100)."""
    images, _ = pack
    x = torch.cat([to_model_input(g) for g in images.numpy()])
    assert x.shape == (1000, 3, 28, 28) and x.dtype == torch.float32
    assert torch.equal((x[:, 0] * 255).round().to(torch.uint8), images)


@pytest.mark.parametrize("shape", [(5000, 20), (5000, 1), (3000, 7)])
def test_a_tall_thin_stroke_is_read(shape, classifier):
    """A bar 1,000 px tall in a strip 1-20 px wide: a 1 (torch's resize gave a 1 px wide output every
    row's value from the first row, so the stroke came out empty)."""
    strip = np.full(shape, 255, np.uint8)
    strip[2000:3000] = 0
    x = to_model_input(strip)
    assert (x.amax(1) > 0.5).sum() >= 20 and classifier.predict(x).tolist() == [1]


def test_a_40_megapixel_photo_is_scaled_down_before_it_becomes_floats(classifier):
    """A small 7 on a 40-megapixel page (8-bit, as phone photos are): read right, with under 400 MB of arrays
    at the peak (its RGBA pixels, 160 MB, held twice while PIL hands them to numpy; as float32 from the start
    they took 1.3 GB, and 3 times the time)."""
    import tracemalloc

    page = PIL.Image.new("L", (7300, 5475), 230)
    PIL.ImageDraw.Draw(page).line([(3000, 2500), (3400, 2500), (3150, 3100)], fill=20, width=40)
    tracemalloc.start()
    x = to_model_input(page)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert classifier.predict(x).tolist() == [7] and peak < 400e6


def test_a_read_only_array_is_read_as_it_is_without_a_warning(digits):
    """np.asarray of a PIL image is read-only: torch would warn that it cannot write to it (once)."""
    gray = np.asarray(PIL.Image.fromarray(255 - digits[0][0]).resize((100, 100)).convert("RGBA"))
    assert not gray.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(to_model_input(gray), to_model_input(gray.copy()))


def test_resize_to_one_pixel_wide_keeps_each_row():
    column = torch.arange(100.0).view(1, 1, 100, 1).expand(1, 2, 100, 20)
    two_wide = resize(column, (5, 2))
    assert torch.allclose(resize(column, (5, 1))[..., 0], two_wide[..., 0], atol=1e-4)
    assert two_wide[0, 0, :, 0].diff().min() > 15  # 11.4, 29.5, 49.5, 69.5, 87.6: each row's own mean



def test_a_small_digit_on_a_bright_phone_photo_with_a_faint_bright_patch(digits, classifier):
    """A 75 px digit on a 3-megapixel photo of a white page (0.2% of its pixels), lit a little brighter
    (+0.03) in one corner: light paper, read as its digit (comparing the picture's extreme pixels alone,
    light_strokes, the patch outweighed the digit: light strokes on dark, read as 0s)."""
    images, labels = digits
    rows, cols = np.mgrid[0:1500, 0:2000].astype(np.float32)
    paper = 0.88 + 0.03 * np.exp(-((cols - 1600) ** 2 + (rows - 300) ** 2) / (2 * 160.0 ** 2))
    photos = []
    for gray in images[::5]:  # a 0, 2, 5 and 7
        stroke = np.asarray(PIL.Image.fromarray(gray).resize((75, 75), PIL.Image.BILINEAR)).astype(np.float32) / 255
        page = paper.copy()
        page[800:875, 740:815] = page[800:875, 740:815] * (1 - stroke) + 0.05 * stroke
        photos.append(np.repeat((page * 255).astype(np.uint8)[:, :, None], 3, axis=2))
    assert read(classifier, photos).tolist() == labels[::5].tolist()
