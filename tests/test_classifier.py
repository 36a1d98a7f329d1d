import torch

import explorer
from explorer.classifier import Classifier
from explorer.data import COLORINGS, ColoredMNIST, hue_to_rgb
from explorer.weights import read_metadata
from train import engine
from train.__main__ import main
from train.evaluate import TEST_COLOR_SEED, for_inference, predict

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


def test_evaluation_folds_batch_norm_into_the_convolutions(pack):
    """for_inference: the same function as the model in eval mode, with no batch norm left; the model given
    keeps its own. Checked in float64, where the fold's rounding is about 1e-15 of these logits' size: a
    wrong fold would differ by whole units."""
    model = explorer.load_model(SHIPPED).double()
    images, labels = ColoredMNIST(*pack, coloring="random", seed=TEST_COLOR_SEED)[torch.arange(0, 1000, 10)]
    folded = for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == len(model.config.channels)
    with torch.no_grad():
        torch.testing.assert_close(folded(images.double()), model(images.double()), rtol=0, atol=1e-9)


def run_cli(capsys, *args):
    """python -m train ARGS, in this process (the DDP tests run it as a command): (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trains_evaluates_and_records(tmp_path, mnist_dir, capsys):
    out = tmp_path / "c.safetensors"
    code, stdout, stderr = run_cli(capsys, "classifier", "--sample-pack", "--max-steps", "4",
                                   "--run-dir", str(tmp_path / "run"), "--out", str(out))
    assert code == 0, stderr[-2000:]
    meta = read_metadata(out)
    assert meta["training"]["steps"] == 4 and meta["training"]["seed"] == 0
    chosen = engine.choose_precision("auto", engine.default_device())
    assert meta["training"]["precision"] == chosen.name and f"precision: {chosen.reason}" in stdout
    assert meta["training"]["machine"] == engine.machine_capabilities()
    assert set(meta["metrics"]) == {"accuracy_digit", "accuracy_random", "accuracy_gray", "test_data", "evaluation_seconds"}
    assert sorted(path.name for path in (tmp_path / "run" / "figures").iterdir()) == ["metrics.png", "training.png"]
    code, stdout, _ = run_cli(capsys, "evaluate", str(out), "--sample-pack")
    assert code == 0 and "accuracy_gray" in stdout
    assert read_metadata(out)["metrics"] == meta["metrics"]  # a quick check is printed, not recorded
    code, _, stderr = run_cli(capsys, "evaluate", str(out), "--data-dir", str(mnist_dir))
    assert code == 0, stderr[-2000:]
    assert read_metadata(out)["metrics"]["test_data"] == "MNIST test set (10000 images)"


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    code, _, stderr = run_cli(capsys, "classifier", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run"))
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "train-images-idx3-ubyte" in stderr and "MNIST_DIR" in stderr
    code, _, stderr = run_cli(capsys, "evaluate", str(tmp_path / "vae-joint.safetensors"))
    assert code == 2 and "does not exist" in stderr and len(stderr.strip().splitlines()) == 1
