"""The files that let the page decode without the server: `python -m train web`.

Writes into `web/` (served by the app, explorer/ui.py):
- `models/vae-<name>.onnx`: each shipped VAE's decoder (both sets: vae-joint.onnx, vae-joint-any.onnx, ...), z (N, D) float32 -> images (N, 3, 28, 28) in [0, 1],
  exported from its weights file (torch.onnx, opset 17);
- `vendor/onnxruntime-web/`: the browser runtime that evaluates them, ONNX Runtime Web's plain WebAssembly
  build (one thread), copied from the npm package that `npm ci` installs (package.json pins its version),
  with its license. No CDN: Spaces, tests and users behind firewalls work offline.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from explorer.explore import MODEL_SETS, VAE_KINDS, vae_name
from explorer.vae import VAE
from explorer.files import atomic_write
from explorer.weights import load_model

NAMES = tuple(vae_name(kind, model_set) for model_set in MODEL_SETS for kind in VAE_KINDS)  # the shipped VAEs
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
NPM_PACKAGE = Path("node_modules") / "onnxruntime-web"
MIT = """MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


class DecoderGraph(nn.Module):
    """VAE.decode as a module of its own, for the exporter: z (N, D) -> images (N, 3, 28, 28) in [0, 1]."""

    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def export_decoder(vae: VAE, path: Path) -> Path:
    """Write the decoder of `vae` as an ONNX graph (input `z` (N, D), output `x` (N, 3, 28, 28), N dynamic),
    atomically. The page's picture equals the server's to 1/255 (tests/test_browser.py)."""
    graph = DecoderGraph(vae.eval()).float()
    with warnings.catch_warnings():  # the TorchScript exporter's notices; its graph is the one measured
        warnings.simplefilter("ignore")
        atomic_write(path, lambda tmp: torch.onnx.export(
            graph, (torch.zeros(1, vae.spec.size),), str(tmp), dynamo=False, input_names=["z"], output_names=["x"],
            dynamic_axes={"z": {0: "n"}, "x": {0: "n"}}, opset_version=17))
    return path


def copy_runtime(package: Path, out: Path) -> list[Path]:
    """Copy ONNX Runtime Web's WebAssembly build from its npm package folder into `out`, with its license.
    Raises FileNotFoundError (saying to run `npm ci`) if the package is not installed."""
    dist = package / "dist"
    if not all((dist / name).is_file() for name in RUNTIME_FILES):
        raise FileNotFoundError(f"{package} is not installed: run `npm ci` in the repository first")
    version = json.loads((package / "package.json").read_text())["version"]
    written = [atomic_write(out / name, lambda tmp, name=name: shutil.copyfile(dist / name, tmp)) for name in RUNTIME_FILES]
    notice = f"onnxruntime-web {version} (npm), files {', '.join(RUNTIME_FILES)}, under the MIT License:\n\n{MIT}"
    written.append(atomic_write(out / "LICENSE", lambda tmp: tmp.write_text(notice)))
    return written


def export_web(weights_dir: str | Path, out: str | Path, package: str | Path = NPM_PACKAGE) -> list[Path]:
    """Export every shipped VAE's decoder from `weights_dir` into `out/models/`, and, where the npm package
    is installed, refresh the vendored runtime in `out/vendor/onnxruntime-web/`. Returns the paths written."""
    weights_dir, out, package = Path(weights_dir), Path(out), Path(package)
    written = [export_decoder(load_model(weights_dir / f"vae-{name}.safetensors"), out / "models" / f"vae-{name}.onnx")
               for name in NAMES if (weights_dir / f"vae-{name}.safetensors").is_file()]
    if package.is_dir():
        written += copy_runtime(package, out / "vendor" / "onnxruntime-web")
    elif not (out / "vendor" / "onnxruntime-web" / RUNTIME_FILES[-1]).is_file():
        raise FileNotFoundError(f"{package} is not installed and {out} holds no runtime: run `npm ci` first")
    return written
