"""The beta Lab: its training command (a few steps on the sample pack), the figures of the shipped family, and the
regions the tab captions."""

import json
import subprocess

import numpy as np
import onnxruntime
import pytest
import torch

from explorer.lab import LAB_FILE, LabError, read_lab, region_of, regions, spread
from tests.conftest import ROOT
from train.__main__ import main
from train.lab import neighbors_same_class, snapshot_steps


def test_snapshots_start_untrained_and_thin_out_on_a_log_scale():
    assert snapshot_steps(2808) == [0, 20, 37, 69, 128, 237, 440, 816, 1513, 2808]
    assert snapshot_steps(12, 4) == [0, 1, 3, 12]  # a short run starts at 1% of its steps
    assert snapshot_steps(5, 2) == [0, 5]


def test_a_map_is_organised_where_neighbours_share_a_class():
    labels = torch.arange(10).repeat_interleave(20)
    apart = torch.stack([labels.double() * 10, torch.zeros(200, dtype=torch.float64)], 1) + torch.rand(200, 2)
    assert neighbors_same_class(apart, labels) == 1.0
    shuffled = labels[torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    assert neighbors_same_class(apart, shuffled) < 0.3  # classes mixed at random: about 0.1


def lab_run(tmp_path, name, *extra):
    out, runs = tmp_path / name, tmp_path / f"{name}-runs"
    assert main(["lab", "--sample-pack", "--betas", "1", "30", "--epochs", "4", "--snapshots", "4",
                 "--out", str(out), "--run-dir", str(runs), *extra]) == 0
    return out, runs


def test_the_lab_command_writes_every_snapshot_and_a_killed_run_resumes_where_it_stopped(tmp_path):
    out, runs = lab_run(tmp_path, "whole")
    lab = read_lab(out / "lab.json")
    assert [m["beta"] for m in lab["family"]] == [1.0, 30.0]
    for member in lab["family"]:
        assert [s["step"] for s in member["snapshots"]] == [0, 1, 3, 12]  # 1000 digits / 256 = 3 steps an epoch
        for shot in member["snapshots"]:
            assert len(shot["means"]) == 1000 and len(shot["kl"]) == 2
            assert shot["rate"] == pytest.approx(sum(shot["kl"]), abs=2e-3)
            assert (out / shot["decoder"]).is_file()
    assert lab["family"][0]["snapshots"][0]["distortion"] == lab["family"][1]["snapshots"][0]["distortion"]  # one start

    # a run stopped after step 3 (as a kill leaves it: its snapshots so far, a checkpoint) continues with --resume
    stopped_out, stopped_runs = lab_run(tmp_path, "stopped", "--max-steps", "3")
    assert [s["step"] for s in read_lab(stopped_out / "lab.json")["family"][0]["snapshots"]] == [0, 1, 3]
    lab_run(tmp_path, "stopped", "--resume")
    resumed = read_lab(stopped_out / "lab.json")
    for member, again in zip(lab["family"], resumed["family"]):
        for shot, other in zip(member["snapshots"], again["snapshots"], strict=True):
            assert other["step"] == shot["step"]
            assert other["rate"] == pytest.approx(shot["rate"], rel=1e-4, abs=1e-3)
            assert other["distortion"] == pytest.approx(shot["distortion"], rel=1e-5)

    # killed after its last step's training, before that snapshot was kept: --resume makes it from the checkpoint
    kept = stopped_runs / "beta-30" / "snapshots.json"
    record = json.loads(kept.read_text())
    kept.write_text(json.dumps({**record, "snapshots": record["snapshots"][:-1]}))
    lab_run(tmp_path, "stopped", "--resume")
    again = read_lab(stopped_out / "lab.json")["family"][1]["snapshots"][-1]
    assert again["step"] == 12 and again["distortion"] == pytest.approx(lab["family"][1]["snapshots"][-1]["distortion"],
                                                                         rel=1e-5)
    # resuming with other settings is refused in one line, and the family on disk stays as it was
    before = (stopped_out / "lab.json").read_bytes()
    assert main(["lab", "--sample-pack", "--betas", "1", "30", "--epochs", "5", "--snapshots", "4", "--out",
                 str(stopped_out), "--run-dir", str(stopped_runs), "--resume"]) == 2
    assert (stopped_out / "lab.json").read_bytes() == before

    # a snapshot's page decoder draws its grid: (n, 2) -> (n, 3, 28, 28) in [0, 1]
    decoder = onnxruntime.InferenceSession(str(out / lab["family"][0]["snapshots"][-1]["decoder"]))
    x = decoder.run(None, {"z": np.array(lab["grid"], dtype=np.float32)})[0]
    assert x.shape == (len(lab["grid"]), 3, 28, 28) and 0 <= x.min() and x.max() <= 1


def test_a_missing_or_foreign_lab_file_is_one_line(tmp_path):
    with pytest.raises(LabError, match="python -m train lab"):
        read_lab(tmp_path / "lab.json")
    (tmp_path / "lab.json").write_text('{"family": []}')
    with pytest.raises(LabError, match="not a beta Lab file"):
        read_lab(tmp_path / "lab.json")


def test_regions_follow_the_measured_figures():
    def member(beta, rate, spread, kl=None):  # codes at +-spread ** 0.5 in each dimension: mean square `spread`
        means = [[spread ** 0.5, -spread ** 0.5], [-spread ** 0.5, spread ** 0.5]]
        return {"beta": beta, "snapshots": [{"rate": rate, "distortion": 500 - rate, "kl": kl or [rate / 2] * 2,
                                             "means": means, "neighbors_same_class": 0.5, "inside_grid": 0.5}]}
    lab = {"family": [member(0.1, 14, 6.0), member(3, 4.8, 1.3), member(10, 2.4, 0.9), member(20, 0.8, 0.4),
                      member(50, 0.01, 0.0, kl=[0.005, 0.005])]}
    found = regions(lab)
    assert [(r.name, r.members) for r in found] == [("spread", (0, 1)), ("organised", (2,)), ("fading", (3,)),
                                                    ("collapsed", (4,))]
    assert "beta 0.1-3" in found[0].caption and "1.3-6.0" in found[0].caption and "rate 4.8-14.0" in found[0].caption
    assert spread(lab["family"][0]["snapshots"][0]) == pytest.approx(6.0)
    assert region_of({"rate": 2.31, "kl": [1.2, 1.11], "means": [[0.5, 0.5]]}) == "organised"  # just past log 10
    assert region_of({"rate": 2.29, "kl": [1.2, 1.09], "means": [[0.5, 0.5]]}) == "fading"


def test_the_tab_says_how_to_make_a_missing_family(tmp_path, monkeypatch):
    import gradio as gr

    import explorer.ui.lab as tab
    monkeypatch.setattr(tab, "read_lab", lambda: read_lab(tmp_path / "lab.json"))
    with gr.Blocks() as demo:
        tab.lab_tab()
    shown = [c.value for c in demo.blocks.values() if isinstance(c, gr.Markdown)]
    assert any("python -m train lab" in str(v) for v in shown) and not any(isinstance(c, gr.HTML) for c in demo.blocks.values())
    (tmp_path / "lab.json").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    with pytest.raises(LabError, match="Git LFS pointer"):
        read_lab(tmp_path / "lab.json")


# ----------------------------------------------------------------------------- the shipped family


@pytest.fixture(scope="module")
def shipped():
    return read_lab(LAB_FILE)


def test_the_shipped_family_spans_the_curve(shipped):
    """From collapsed (near 0 nats) to 10 nats or more; from the collapsed end to the run with the least distortion
    the distortion falls as the rate grows, and past it (the runs spread past the prior) it stays within a nat of
    the least: more rate buys no better reconstructions there (docs/models.md, "The beta Lab")."""
    last = sorted((member["snapshots"][-1] for member in shipped["family"]), key=lambda s: s["rate"])
    rates, distortions = [s["rate"] for s in last], [s["distortion"] for s in last]
    assert rates[0] < 0.05 and rates[-1] >= 10
    best = distortions.index(min(distortions))
    assert all(a > b for a, b in zip(distortions[:best], distortions[1:best + 1])), distortions
    assert all(d - distortions[best] < 1.0 for d in distortions[best:]), distortions
    assert len(shipped["family"]) == 7 and all(len(m["snapshots"]) == 10 for m in shipped["family"])
    found = {r.name: [shipped["family"][i]["beta"] for i in r.members] for r in regions(shipped)}
    assert found == {"spread": [0.1, 0.3, 1.0, 3.0], "organised": [10.0], "fading": [20.0], "collapsed": [50.0]}


def test_the_shipped_family_is_what_the_command_wrote_and_fits_the_repository(shipped):
    folder = LAB_FILE.parent
    decoders = {s["decoder"] for m in shipped["family"] for s in m["snapshots"]}
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*.onnx")}
    assert decoders == on_disk  # every decoder the file names, and no other
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 20_000_000, f"the Lab's files: {size / 1e6:.1f} MB"
    assert shipped["model"]["config"]["continuous"] == 2 and shipped["test"]["digits"] == 10_000
    lfs = subprocess.run(["git", "check-attr", "filter", str(next(iter(folder.rglob("*.onnx"))))], cwd=ROOT,
                         capture_output=True, text=True).stdout
    assert "lfs" in lfs  # stored as the other weights are
    assert json.loads(LAB_FILE.read_text())["model"]["max_steps"] is None  # a whole run, not a smoke run


def test_the_lab_tab_holds_its_controls_and_a_caption_per_region(shipped):
    from explorer.ui.lab import lab_html

    page = lab_html(shipped, start=3)
    for part in ("lab-beta", "lab-time", "lab-play", "lab-map", "lab-grid", "lab-rd", "lab-recon", "lab-kl"):
        assert f'class="{part}"' in page
    assert page.count('class="lab-region"') == len(regions(shipped))
    assert f'max="{len(shipped["family"]) - 1}"' in page and 'data-start-beta="3"' in page
