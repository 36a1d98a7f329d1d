"""Test-set metrics of each kind of model, printed as a table and recorded in the weights file."""

from __future__ import annotations

import torch

from explorer.data import COLORINGS, ColoredMNIST, load_mnist, load_sample_pack
from explorer.weights import load_model, read_metadata, update_metrics

TEST_COLOR_SEED = 1234  # the random coloring of the test set (training uses other seeds)


def test_digits(data_dir=None, sample_pack: bool = False) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The test images and labels (uint8, int64) and a description of where they came from."""
    if sample_pack:
        images, labels = load_sample_pack()
        return images, labels, f"sample pack ({len(labels)} MNIST test digits)"
    images, labels = load_mnist("test", data_dir)
    return images, labels, f"MNIST test set ({len(labels)} images)"


@torch.no_grad()
def predict(model, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's reading of every image, in batches."""
    return torch.cat([model.predict(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def evaluate_classifier(model, images, labels) -> dict[str, float]:
    """Accuracy in each coloring."""
    metrics = {}
    for coloring in COLORINGS:
        colored, _ = ColoredMNIST(images, labels, coloring, seed=TEST_COLOR_SEED)[torch.arange(len(labels))]
        metrics[f"accuracy_{coloring}"] = (predict(model, colored) == labels).float().mean().item()
    return metrics


EVALUATORS = {"classifier": evaluate_classifier}


def evaluate(model, data_dir=None, sample_pack: bool = False) -> dict:
    """The test metrics of a model, with the data they were measured on."""
    images, labels, source = test_digits(data_dir, sample_pack)
    with torch.inference_mode():
        metrics = EVALUATORS[model.kind](model.eval(), images, labels)
    return {**metrics, "test_data": source}


def evaluate_file(path, data_dir=None, sample_pack: bool = False) -> dict:
    """Evaluate a weights file; metrics measured on the full test set are recorded in its metadata
    (those of a quick check on the sample pack are not)."""
    read_metadata(path)  # a clear error for a bad file before any data is read
    metrics = evaluate(load_model(path), data_dir, sample_pack)
    if not sample_pack:
        update_metrics(path, metrics)
    return metrics


def format_table(title: str, metrics: dict) -> str:
    """Metrics as a two-column text table (fractions in [0, 1] named accuracy_* shown as percent)."""
    rows = [(name, f"{100 * value:.2f}%" if name.startswith("accuracy") else
             f"{value:.4f}" if isinstance(value, float) else str(value)) for name, value in metrics.items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join([title, "-" * len(title)] + [f"{name:<{width}}  {value}" for name, value in rows])
