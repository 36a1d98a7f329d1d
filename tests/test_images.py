"""A user's picture -> the model input: any mode, size, background; bad pictures get clear errors."""

import numpy as np
import PIL.Image
import pytest
import torch

from explorer.images import (MAX_PIXELS, ImageError, enlarge, error_picture, grid_picture, to_model_input,
                             to_picture, write_gif)


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


def test_a_28x28_digit_is_taken_as_it_is(digits):
    images, _ = digits
    x = to_model_input(images[0])
    assert x.shape == (1, 3, 28, 28) and x.dtype == torch.float32
    assert torch.equal((x[0, 0] * 255).round().to(torch.uint8), torch.from_numpy(images[0]))


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
    huge = tmp_path / "huge.png"
    side = int(MAX_PIXELS ** 0.5) + 10
    PIL.Image.new("1", (side, side)).save(huge)  # 1-bit: a few kB on disk, 40+ megapixels decoded
    with pytest.raises(ImageError, match="too large"):
        to_model_input(huge)


def test_output_pictures_and_gif(tmp_path):
    images = torch.rand(6, 3, 28, 28)
    assert to_picture(images[0]).shape == (28, 28, 3) and to_picture(images[0]).dtype == np.uint8
    assert grid_picture(images, columns=3).shape == (2 * 29 + 1, 3 * 29 + 1, 3)
    assert error_picture(images[:1], images[:1]).max() == 0
    assert error_picture(torch.zeros(1, 3, 28, 28), torch.ones(1, 3, 28, 28)).min() == 255
    assert enlarge(to_picture(images[0]), 4).shape == (112, 112, 3)
    gif = PIL.Image.open(write_gif(images, tmp_path / "path.gif", factor=2))
    assert gif.size == (56, 56) and gif.n_frames == 6 + 4  # forward, then back without repeating the ends
