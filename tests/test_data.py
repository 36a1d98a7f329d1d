import gzip
import shutil
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from explorer.data import (MNIST_MD5, AnyColor, any_colors, find_mnist_file, PALETTE, SAMPLE_PACK, ColoredMNIST, DataError, load_mnist, load_sample_pack, read_idx,
                           resolve_data_dir)

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_raw_and_gz(tmp_path, pack, compressed):
    images = pack[0].numpy()
    data = idx_bytes(images)
    path = tmp_path / ("x.gz" if compressed else "x")
    path.write_bytes(gzip.compress(data) if compressed else data)
    np.testing.assert_array_equal(read_idx(path), images)


def test_full_mnist_loads_fast_with_known_counts(mnist_dir):
    load_mnist("test", mnist_dir)  # warm the file cache
    start = time.perf_counter()
    train_images, train_labels = load_mnist("train", mnist_dir)
    test_images, test_labels = load_mnist("test", mnist_dir)
    seconds = time.perf_counter() - start
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert train_images.dtype == torch.uint8 and train_labels.dtype == torch.int64
    assert torch.bincount(train_labels).tolist() == TRAIN_COUNTS
    assert torch.bincount(test_labels).tolist() == TEST_COUNTS
    assert seconds < 3, f"loading MNIST took {seconds:.2f} s"


def test_torchvision_layout_and_uncompressed_files(tmp_path, mnist_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(gzip.decompress(gz_bytes(mnist_dir, name)))
    images, labels = load_mnist("test", tmp_path)
    assert torch.bincount(labels).tolist() == TEST_COUNTS


def gz_bytes(mnist_dir, name) -> bytes:
    """The gzip-compressed bytes of an original MNIST file, in whichever form the data folder has it."""
    path = find_mnist_file(mnist_dir, name)
    return path.read_bytes() if path.suffix == ".gz" else gzip.compress(path.read_bytes())


def copy_test_files(mnist_dir, target):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (target / f"{name}.gz").write_bytes(gz_bytes(mnist_dir, name))


def test_missing_file_names_it_and_says_what_to_do(tmp_path, mnist_dir):
    copy_test_files(mnist_dir, tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.*MNIST_DIR"):
        load_mnist("test", tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*--data-dir"):
        load_mnist("train", tmp_path / "nowhere")


def test_truncated_gzip_is_named(tmp_path, mnist_dir):
    copy_test_files(mnist_dir, tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz is truncated"):
        load_mnist("test", tmp_path)


def test_truncated_raw_file_fails_the_checksum(tmp_path, mnist_dir):
    copy_test_files(mnist_dir, tmp_path)
    gz = tmp_path / "t10k-images-idx3-ubyte.gz"
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(gz.read_bytes())[:-784])
    gz.unlink()
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte has the wrong content"):
        load_mnist("test", tmp_path)


def test_wrong_file_fails_the_checksum(tmp_path, mnist_dir):
    copy_test_files(mnist_dir, tmp_path)
    shutil.copy(tmp_path / "t10k-labels-idx1-ubyte.gz", tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz has the wrong content.*expected "
                       + MNIST_MD5["t10k-images-idx3-ubyte"]):
        load_mnist("test", tmp_path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, these are not digits")
    with pytest.raises(DataError, match="bad magic"):
        read_idx(path)


def test_data_dir_from_option_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "option") == tmp_path / "option"
    assert resolve_data_dir() == tmp_path / "env"


def test_failed_download_says_to_set_mnist_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match=r"(?s)could not be downloaded.*MNIST_DIR.*--data-dir"):
        load_mnist("test")


def test_digit_coloring_uses_the_exact_palette_color(pack):
    images, labels = pack
    x, y = ColoredMNIST(images, labels, "digit")[torch.arange(len(labels))]
    assert x.shape == (len(labels), 3, 28, 28) and x.dtype == torch.float32
    for digit in range(10):
        i = int(torch.nonzero(labels == digit)[0])
        full = images[i] == 255  # full-intensity stroke pixels carry the palette color itself
        assert full.any()
        expected = torch.tensor(PALETTE[digit], dtype=torch.float32) / 255
        torch.testing.assert_close(x[i][:, full].T, expected.expand(int(full.sum()), 3))
        assert (x[i][:, images[i] == 0] == 0).all()  # black background


def test_random_coloring_is_vivid_and_reproducible(pack):
    images, labels = pack
    a = ColoredMNIST(images, labels, "random", seed=7)
    b = ColoredMNIST(images, labels, "random", seed=7)
    c = ColoredMNIST(images, labels, "random", seed=8)
    assert torch.equal(a.colors, b.colors) and not torch.equal(a.colors, c.colors)
    assert torch.equal(a[torch.arange(10)][0], b[torch.arange(10)][0])
    assert torch.allclose(a.colors.amax(1), torch.ones(len(labels)))  # full value
    assert torch.allclose(a.colors.amin(1), torch.zeros(len(labels)))  # full saturation
    assert a.colors.std(0).min() > 0.2  # many different hues


def test_gray_coloring_has_equal_channels(pack):
    images, labels = pack
    x, _ = ColoredMNIST(images, labels, "gray")[torch.arange(100)]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    torch.testing.assert_close(x[:, 0], images[:100].float() / 255)


def test_single_item_and_mixture(pack):
    images, labels = pack
    x, y = ColoredMNIST(images, labels, "digit")[3]
    assert x.shape == (3, 28, 28) and int(y) == int(labels[3])
    mixed = ColoredMNIST.mixture(images, labels)
    assert len(mixed) == 3 * len(labels) and mixed.coloring == "mixed"
    n = len(labels)
    assert torch.equal(mixed.colors[2 * n:], torch.ones(n, 3))  # the gray third


def test_sample_pack_is_real_test_digits(pack, mnist_dir):
    images, labels = pack
    assert torch.bincount(labels).tolist() == [100] * 10
    test_images, test_labels = load_mnist("test", mnist_dir)
    indices = torch.from_numpy(np.load(SAMPLE_PACK)["test_indices"]).long()
    assert torch.equal(test_images[indices], images) and torch.equal(test_labels[indices], labels)


def test_missing_sample_pack(tmp_path):
    with pytest.raises(DataError, match="python -m train sample-pack"):
        load_sample_pack(tmp_path / "none.npz")


def test_unreadable_sample_pack(tmp_path):
    """A clone made without Git LFS holds a pointer in place of the pack; a copy cut short is not a zip; an
    .npz of other arrays is not a pack: each a DataError that says so (numpy's errors would escape)."""
    pointer = tmp_path / "pointer.npz"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 1377\n")
    with pytest.raises(DataError, match=r"pointer.npz is not readable. It is a Git LFS pointer.*git lfs pull"):
        load_sample_pack(pointer)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(SAMPLE_PACK.read_bytes()[:500])
    with pytest.raises(DataError, match=r"cut.npz is not readable \(.*\). Make it with: python -m train sample-pack"):
        load_sample_pack(cut)
    other = tmp_path / "other.npz"
    np.savez(other, images=np.zeros((3, 32, 32), np.uint8), labels=np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="does not hold 28 x 28 uint8 digits"):
        load_sample_pack(other)


def test_any_color_paints_each_draw_anew_and_reproducibly(pack):
    images, labels = pack
    data = AnyColor(images, labels)
    torch.manual_seed(0)
    first, y = data[torch.arange(400)]
    again, _ = data[torch.arange(400)]
    torch.manual_seed(0)
    replay, _ = data[torch.arange(400)]
    assert torch.equal(first, replay) and not torch.equal(first, again)  # new colors per draw, from the seed
    assert torch.equal(y, labels[:400]) and data.coloring == "any"
    peak = first.amax((2, 3))  # each digit's color at its brightest stroke pixel
    brightness = peak.amax(1)
    assert 0.3 <= brightness.min() and brightness.max() <= 1.0  # x 0.5-1 (palette colors peak at 0.7-1)
    gray = (peak.amax(1) - peak.amin(1)) < 0.02
    assert 0.15 <= gray.float().mean() <= 0.35  # a quarter white
    colors = any_colors(labels, torch.Generator().manual_seed(1))
    assert colors.shape == (len(labels), 3) and 0 <= colors.min() and colors.max() <= 1
