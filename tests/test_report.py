"""python -m train report redraws docs/figures/ from the shipped weights files."""

import numpy as np
import PIL.Image

from train.__main__ import main
from train.report import SHIPPED

from .conftest import ROOT

EXPECTED = {"metrics.png", "rate-distortion.png", "classifier-training.png", "vae-2d-any-manifold.png",
            *(f"{stem}-{name}.png" for stem in SHIPPED if stem != "classifier" for name in ("training", "samples")),
            *(f"{stem}-{name}.png" for stem in SHIPPED if stem.startswith("vae-") for name in ("latent", "factors"))}


def drawn(path) -> bool:
    """A picture with content: many colors (lines, text, digits), not one flat or blank image."""
    pixels = np.asarray(PIL.Image.open(path).convert("RGB")).reshape(-1, 3).astype(np.int32)
    colors = pixels @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)  # one integer per color: a fast np.unique
    return len(np.unique(colors)) > 100 and pixels.std() > 20


def test_report_draws_every_shipped_file(tmp_path, capsys):
    assert main(["report", "--weights-dir", str(ROOT / "weights"), "--out", str(tmp_path)]) == 0
    assert {path.name for path in tmp_path.iterdir()} == EXPECTED  # and no temporary files left
    assert sorted(capsys.readouterr().out.split()) == sorted(str(tmp_path / name) for name in EXPECTED)
    for name in EXPECTED:
        width, height = PIL.Image.open(tmp_path / name).size
        assert width >= 500 and height >= 250, name
        assert drawn(tmp_path / name), name


def test_report_without_weights_is_one_clear_line(tmp_path, capsys):
    assert main(["report", "--weights-dir", str(tmp_path), "--out", str(tmp_path / "figures")]) == 2
    assert "holds none of the shipped weights files" in capsys.readouterr().err
    assert not (tmp_path / "figures").exists()
