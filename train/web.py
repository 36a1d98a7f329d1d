"""The files that let the page decode without the server: `python -m train web`.

Writes into `web/` (served by the app, explorer/ui/):
- `models/vae-<name>.onnx`: each shipped VAE's decoder (every `weights/vae-<name>.safetensors`: vae-joint.onnx,
  vae-joint-any.onnx, vae-2d-any.onnx, ...), z (N, D) float32 -> images (N, 3, 28, 28) in [0, 1], exported from its
  weights file (explorer/registry.py: export_decoder), and `models/sources.json`, the hash of the weights each came
  from (the app exports a decoder of its own for a file that differs);
- `vendor/onnxruntime-web/`: the browser runtime that evaluates them, ONNX Runtime Web's plain WebAssembly
  build (one thread), copied from the npm package that `npm ci` installs (package.json pins its version),
  with its license. No CDN: Spaces, tests and users behind firewalls work offline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from explorer.files import atomic_write
from explorer.registry import SOURCES, export_decoder, file_hash, find_vaes
from explorer.weights import load_model

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
    """Export every shipped VAE's decoder from `weights_dir` into `out/models/` with their weights' hashes, and,
    where the npm package is installed, refresh the vendored runtime in `out/vendor/onnxruntime-web/`. Returns
    the paths written."""
    weights_dir, out, package = Path(weights_dir), Path(out), Path(package)
    found, _ = find_vaes(weights_dir)
    written = [export_decoder(load_model(f.path), out / "models" / f"vae-{f.name}.onnx") for f in found]
    sources = {f"vae-{f.name}.onnx": file_hash(f.path) for f in found}
    written.append(atomic_write(out / "models" / SOURCES, lambda tmp: tmp.write_text(json.dumps(sources, indent=1) + "\n")))
    if package.is_dir():
        written += copy_runtime(package, out / "vendor" / "onnxruntime-web")
    elif not (out / "vendor" / "onnxruntime-web" / RUNTIME_FILES[-1]).is_file():
        raise FileNotFoundError(f"{package} is not installed and {out} holds no runtime: run `npm ci` first")
    return written
