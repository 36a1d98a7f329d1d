import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The full original MNIST, as .gz files: $MNIST_DIR, else ../shared/data/mnist beside the
    repository, else the download cache (which torchvision fills on a machine with internet)."""
    from explorer.data import find_mnist_file, resolve_data_dir

    shared = ROOT.parent / "shared" / "data" / "mnist"
    path = resolve_data_dir(None if os.environ.get("MNIST_DIR") or not shared.is_dir() else shared)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        if find_mnist_file(path, name) is None:
            pytest.fail(f"the full MNIST is needed for this test: set MNIST_DIR (looked in {path})")
    return path


@pytest.fixture(scope="session")
def pack():
    """The shipped sample pack: real MNIST test digits (uint8 images, labels)."""
    from explorer.data import load_sample_pack

    return load_sample_pack()


@pytest.fixture(scope="session")
def user_vae(tmp_path_factory) -> Path:
    """A VAE of a layout of a user's own, trained a few steps on the sample pack by the CLI as a user would
    (`python -m train vae --continuous 3 --categorical 10 10 ... --out my-vae.safetensors`): its weights file."""
    from train.__main__ import main

    folder = tmp_path_factory.mktemp("user")
    out = folder / "my-vae.safetensors"
    assert main(["vae", "--continuous", "3", "--categorical", "10", "10", "--sample-pack", "--max-steps", "30",
                 "--out", str(out), "--run-dir", str(folder / "run")]) == 0
    return out
