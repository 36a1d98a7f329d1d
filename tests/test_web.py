"""python -m train web: the page's decoders are exports of the shipped weights, and its runtime is vendored
with its license (the page itself is tested in test_browser.py)."""

import pytest

from explorer.registry import export_decoder, file_hash, find_vaes, shipped_sources
from explorer.weights import load_model
from train.__main__ import main
from train.web import RUNTIME_FILES, copy_runtime

from .conftest import ROOT

WEB = ROOT / "web"
SHIPPED = find_vaes(ROOT / "weights")[0]


def test_every_shipped_vae_is_found():
    assert {f.name for f in SHIPPED} == {"continuous", "discrete", "joint", "continuous-any", "discrete-any", "joint-any",
                                         "2d-any"}


@pytest.mark.parametrize("found", SHIPPED, ids=lambda f: f.name)
def test_shipped_decoders_are_exports_of_the_shipped_weights(tmp_path, found):
    fresh = export_decoder(load_model(found.path), tmp_path / f"vae-{found.name}.onnx")
    assert fresh.read_bytes() == (WEB / "models" / f"vae-{found.name}.onnx").read_bytes(), \
        f"web/models/vae-{found.name}.onnx is stale: python -m train web"
    assert shipped_sources()[f"vae-{found.name}.onnx"] == file_hash(found.path)


def test_the_runtime_is_vendored_with_its_license():
    vendor = WEB / "vendor" / "onnxruntime-web"
    assert all((vendor / name).stat().st_size > 10_000 for name in RUNTIME_FILES)
    notice = (vendor / "LICENSE").read_text()
    assert "onnxruntime-web" in notice and "MIT License" in notice and "Microsoft Corporation" in notice
    assert "://" not in (WEB / "explorer.js").read_text()  # every file from the app itself, none from a CDN


def test_without_the_npm_package_the_error_says_what_to_run(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="npm ci"):
        copy_runtime(tmp_path / "node_modules" / "onnxruntime-web", tmp_path / "out")
    (tmp_path / "weights").mkdir()
    assert main(["web", "--weights-dir", str(tmp_path / "weights"), "--out", str(tmp_path / "web"),
                 "--npm-package", str(tmp_path / "node_modules" / "onnxruntime-web")]) == 2
    assert "npm ci" in capsys.readouterr().err
