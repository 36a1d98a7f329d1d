import subprocess
import sys

import torch

import explorer
from explorer.classifier import Classifier
from explorer.data import COLORINGS, ColoredMNIST, hue_to_rgb
from explorer.weights import read_metadata
from train import engine
from train.evaluate import TEST_COLOR_SEED, predict

from .conftest import ROOT

SHIPPED = ROOT / "weights" / "classifier.safetensors"


def test_reads_shape_not_color():
    model = Classifier().eval()
    gray = torch.rand(8, 1, 28, 28)
    colors = hue_to_rgb(torch.rand(8))  # vivid colors: the brightest channel is 1
    with torch.no_grad():
        torch.testing.assert_close(model(gray.expand(-1, 3, -1, -1)), model(gray * colors[:, :, None, None]))


def test_shipped_classifier_reads_every_coloring(pack):
    model = explorer.load_model(SHIPPED)
    for coloring in COLORINGS:
        images, labels = ColoredMNIST(*pack, coloring=coloring, seed=TEST_COLOR_SEED)[torch.arange(1000)]
        accuracy = (predict(model, images) == labels).float().mean().item()
        assert accuracy >= 0.98, f"{coloring}: {accuracy:.3f}"
    meta = read_metadata(SHIPPED)
    assert meta["metrics"]["test_data"].startswith("MNIST test set (10000")
    assert all(meta["metrics"][f"accuracy_{c}"] >= 0.99 for c in COLORINGS)
    assert meta["training"]["data"].startswith("MNIST train set (60000")


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "train", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_cli_trains_evaluates_and_records(tmp_path, mnist_dir):
    out = tmp_path / "c.safetensors"
    done = run_cli("classifier", "--sample-pack", "--max-steps", "4", "--run-dir", str(tmp_path / "run"),
                   "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    meta = read_metadata(out)
    assert meta["training"]["steps"] == 4 and meta["training"]["seed"] == 0
    chosen = engine.choose_precision("auto", engine.default_device())
    assert meta["training"]["precision"] == chosen.name and f"precision: {chosen.reason}" in done.stdout
    assert meta["training"]["machine"] == engine.machine_capabilities()
    assert set(meta["metrics"]) == {"accuracy_digit", "accuracy_random", "accuracy_gray", "test_data"}
    assert sorted(path.name for path in (tmp_path / "run" / "figures").iterdir()) == ["metrics.png", "training.png"]
    done = run_cli("evaluate", str(out), "--sample-pack")
    assert done.returncode == 0 and "accuracy_gray" in done.stdout
    assert read_metadata(out)["metrics"] == meta["metrics"]  # a quick check is printed, not recorded
    done = run_cli("evaluate", str(out), "--data-dir", str(mnist_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_metadata(out)["metrics"]["test_data"] == "MNIST test set (10000 images)"


def test_cli_errors_are_one_clear_line(tmp_path):
    done = run_cli("classifier", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "train-images-idx3-ubyte" in done.stderr and "MNIST_DIR" in done.stderr
    done = run_cli("evaluate", str(tmp_path / "vae-joint.safetensors"))
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
