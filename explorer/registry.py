"""Which VAEs the explorer shows: the weights files found (the shipped ones in weights/, and any file or folder a
user names), each with the name the app and the API call it by, and its page decoder. No gradio here.

A user names files with `python app.py --weights PATH ...` or, for a Space, the environment variable
EXPLORER_WEIGHTS (paths separated by the system's path separator, ":" on Linux). A folder stands for the
*.safetensors files in it. A file that cannot be shown (not a weights file, not a VAE, damaged, a decoder that
will not export) is a problem: named with its reason, and every other model keeps working.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .files import atomic_write
from .vae import VAE

WEIGHTS_ENV = "EXPLORER_WEIGHTS"
WEB_MODELS = Path(__file__).resolve().parent.parent / "web" / "models"  # the shipped VAEs' page decoders
SOURCES = "sources.json"  # in WEB_MODELS: each decoder's weights hash (shipped_sources)
# the page decoders exported for other files, by the weights file's hash
DECODER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colored-mnist-explorer" / "decoders"


@dataclass(frozen=True)
class Found:
    """A VAE weights file the explorer lists."""

    name: str  # how the app and the API name it: the file's stem without "vae-" ("joint-any", "my-vae")
    path: Path
    shipped: bool  # from the weights folder (its page decoder is web/models/vae-<name>.onnx, from `train web`)


def user_paths(arguments: list[str] | None = None) -> list[Path]:
    """The files and folders a user named: `arguments` (app.py's --weights), then EXPLORER_WEIGHTS."""
    named = list(arguments or []) + [p.strip() for p in os.environ.get(WEIGHTS_ENV, "").split(os.pathsep) if p.strip()]
    return [Path(p).expanduser() for p in named]


def find_vaes(weights_dir: str | Path, named: list[Path] = (), expected: list[str] = ()) -> tuple[list[Found], dict[str, str]]:
    """The VAE files to list, in order: weights_dir's `expected` names ("joint-any": vae-joint-any.safetensors),
    present or not (a missing one is for its loading to report), then its other `vae-*.safetensors` (sorted),
    then each named file, or each *.safetensors file of a named folder (sorted), once each. Returns them and the
    problems found so far ({path as given: why}: a named path that does not exist, a folder without weights
    files). A name already taken gets "-2", "-3"... Whether a file is a VAE is for its loading to say."""
    found, problems, seen = [], {}, set()

    def add(path: Path, shipped: bool) -> None:
        if path.resolve() in seen:
            return
        seen.add(path.resolve())
        base = path.name.removesuffix(".safetensors").removeprefix("vae-")
        name, n = base, 1
        while any(f.name == name for f in found):
            n += 1
            name = f"{base}-{n}"
        found.append(Found(name, path, shipped))

    weights_dir = Path(weights_dir)
    for path in [weights_dir / f"vae-{name}.safetensors" for name in expected] + sorted(weights_dir.glob("vae-*.safetensors")):
        add(path, shipped=True)
    for path in named:
        if path.is_dir():
            files = sorted(path.glob("*.safetensors"))
            if not files:
                problems[str(path)] = f"{path} is a folder without weights files (*.safetensors)."
            for file in files:
                add(file, shipped=False)
        elif path.is_file():
            add(path, shipped=False)
        else:
            problems[str(path)] = f"{path} does not exist."
    return found, problems


class DecoderGraph(nn.Module):
    """VAE.decode as a module of its own, for the exporter: z (N, D) -> images (N, 3, 28, 28) in [0, 1]."""

    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def export_decoder(vae: VAE, path: Path) -> Path:
    """Write the decoder of `vae` as an ONNX graph (input `z` (N, D), output `x` (N, 3, 28, 28), N dynamic;
    torch.onnx, opset 17), atomically. The page's picture equals the server's to 1/255 (tests/test_browser.py)."""
    graph = DecoderGraph(vae.eval()).float()
    with warnings.catch_warnings():  # the TorchScript exporter's notices; its graph is the one measured
        warnings.simplefilter("ignore")
        atomic_write(path, lambda tmp: torch.onnx.export(
            graph, (torch.zeros(1, vae.spec.size),), str(tmp), dynamo=False, input_names=["z"], output_names=["x"],
            dynamic_axes={"z": {0: "n"}, "x": {0: "n"}}, opset_version=17))
    return path


def file_hash(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex: what a page decoder is keyed by."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def page_decoder(found: Found, vae: VAE, cache: Path = DECODER_CACHE) -> Path:
    """The ONNX decoder the page runs for a listed VAE: web/models/vae-<name>.onnx where `python -m train web`
    exported it from these very bytes (web/models/sources.json records each one's weights hash); else
    `cache`/<the weights file's SHA-256>.onnx, exported now (0.7 s for a process's first export, 0.03-0.04 s after it) unless a file with the same bytes was
    exported before. A retrained or replaced file has another hash, so its decoder is never stale. Raises
    ExportError (why) if the decoder does not export."""
    digest = file_hash(found.path)
    shipped = WEB_MODELS / f"vae-{found.name}.onnx"
    if found.shipped and shipped.is_file() and shipped_sources().get(shipped.name) == digest:
        return shipped
    path = cache / f"{digest}.onnx"
    if not path.is_file():
        try:
            export_decoder(vae, path)
        except Exception as error:  # the exporter's errors have no common base (torch.onnx, onnx, OSError)
            reason = str(error).splitlines()[0] if str(error).strip() else repr(error)
            raise ExportError(f"{found.path}: its decoder does not export for the page "
                              f"({type(error).__name__}: {reason}).") from None
    return path


def shipped_sources(models: Path = WEB_MODELS) -> dict[str, str]:
    """web/models/sources.json: each exported decoder's file name -> the SHA-256 of the weights it came from."""
    try:
        return json.loads((models / SOURCES).read_text())
    except (OSError, ValueError):
        return {}


class ExportError(RuntimeError):
    """A VAE's decoder could not be exported for the page; the message names the file and why."""
