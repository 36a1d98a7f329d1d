"""Weights files: safetensors with the model's kind, config, training facts and test metrics in the metadata."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .classifier import Classifier, ClassifierConfig
from .cyclegan import CycleGAN, CycleGANConfig
from .files import atomic_write, lfs_pointer_hint
from .vae import VAE, VAEConfig

FORMAT = "colored-mnist-explorer/1"
# kind -> (model class, config class); each model class has `kind` and `config` attributes.
MODELS: dict[str, tuple[type[nn.Module], type]] = {
    "classifier": (Classifier, ClassifierConfig),
    "vae": (VAE, VAEConfig),
    "cyclegan": (CycleGAN, CycleGANConfig),
}
# the shipped 2-D VAE's options beside its layout (docs/models.md, "The 2-D VAE"): the ELBO itself (beta 1: its
# posteriors fill the prior, which the manifold grid's inverse-CDF spacing assumes), and a quarter of the
# continuous any-color VAE's 80 epochs (two dimensions are learnt sooner)
PLANE_OPTIONS = ("--beta", "1.0", "--epochs", "20", "--out", "weights/vae-2d-any.safetensors")
# the shipped weights files, in the order `python -m train all` makes them: file stem -> the command that makes it
TRAIN_COMMANDS = {
    "classifier": "python -m train classifier",
    **{f"vae-{kind}": f"python -m train vae --kind {kind}" for kind in ("continuous", "discrete", "joint")},
    **{f"vae-{kind}-any": f"python -m train vae --kind {kind} --coloring any" for kind in ("continuous", "discrete", "joint")},
    "vae-2d-any": "python -m train vae --continuous 2 --coloring any " + " ".join(PLANE_OPTIONS),
    "cyclegan": "python -m train cyclegan",
    "cyclegan-hue": "python -m train cyclegan-hue",
}


class WeightsError(RuntimeError):
    """A weights file is missing, corrupt or does not fit its model; the message names the file."""


def training_command(path: str | os.PathLike) -> str:
    """The command that makes the weights file at `path` (from its name)."""
    stem = Path(path).name.removesuffix(".safetensors")
    return TRAIN_COMMANDS.get(stem, "python -m train --help")


def save_weights(path, model: nn.Module, training: dict | None = None, metrics: dict | None = None) -> Path:
    """Write the model's tensors, kind, config, training facts and metrics to a safetensors file, atomically."""
    metadata = {
        "format": FORMAT,
        "kind": model.kind,
        "config": json.dumps(dataclasses.asdict(model.config)),
        "training": json.dumps(training or {}),
        "metrics": json.dumps(metrics or {}),
    }
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata))


def read_metadata(path) -> dict[str, Any]:
    """The metadata of a weights file, with config, training and metrics parsed from JSON."""
    path = _existing(path)
    try:
        with safe_open(str(path), "pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path} is not a readable safetensors file ({error}).{lfs_pointer_hint(path)} "
                           f"Make it again with: {training_command(path)}") from None
    if raw.get("format") != FORMAT or raw.get("kind") not in MODELS:
        raise WeightsError(f"{path} is not a weights file of this project (format {raw.get('format')!r}, "
                           f"kind {raw.get('kind')!r}). Make it with: {training_command(path)}")
    try:
        return {**raw, **{key: json.loads(raw[key]) for key in ("config", "training", "metrics")}}
    except (KeyError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path} has damaged metadata ({error}). Make it again with: {training_command(path)}") from None


def load_model(path, device: str | torch.device = "cpu") -> nn.Module:
    """The model stored in a weights file, rebuilt from its config, in eval mode."""
    meta = read_metadata(path)
    model_class, config_class = MODELS[meta["kind"]]
    try:
        model = model_class(config_from_dict(config_class, meta["config"]))
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{path}: its config does not build a {meta['kind']} ({error}). "
                           f"Make it again with: {training_command(path)}") from None
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, SafetensorError) as error:
        raise WeightsError(f"{path}: its tensors do not fit the {meta['kind']} its config describes "
                           f"({_shorten(error)}). Make it again with: {training_command(path)}") from None
    return model.to(device).eval()


def update_metrics(path, metrics: dict) -> None:
    """Merge `metrics` into the metrics recorded in a weights file (rewritten atomically)."""
    meta = read_metadata(path)
    tensors = load_file(str(path))
    raw = {key: value if isinstance(value, str) else json.dumps(value) for key, value in meta.items()}
    raw["metrics"] = json.dumps({**meta["metrics"], **metrics})
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), raw))


def config_from_dict(config_class: type, values: dict):
    """A config dataclass from its JSON form (JSON lists back to tuples: every sequence field of the configs is a
    tuple). Raises TypeError for a field the dataclass does not have."""
    names = {field.name: field for field in dataclasses.fields(config_class)}
    unknown = set(values) - set(names)
    if unknown:
        raise TypeError(f"unknown config fields {sorted(unknown)}")
    return config_class(**{key: tuple(v) if isinstance(v, list) else v for key, v in values.items()})


def _shorten(error: Exception, limit: int = 400) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path} does not exist. Make it with: {training_command(path)}")
    return path
