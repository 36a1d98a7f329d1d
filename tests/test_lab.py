"""The beta Lab: its training command (a few steps on the sample pack), the figures of the shipped family, and the
regions the tab captions."""

import json
import subprocess

import numpy as np
import onnxruntime
import pytest
import torch

from explorer.lab import COLLAPSED_RATE, LAB_FILE, LabError, read_lab, region_of, regions
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
    def member(beta, rate, inside):
        return {"beta": beta, "snapshots": [{"rate": rate, "distortion": 500 - rate, "kl": [rate, 0], "means": [],
                                             "neighbors_same_class": 0.5, "inside_grid": inside}]}
    lab = {"family": [member(0.1, 14, 0.5), member(1, 6, 0.95), member(3, 4, 0.97), member(50, 0.01, 1.0)]}
    found = {r.name: r for r in regions(lab)}
    assert [r.name for r in regions(lab)] == ["spread", "organised", "collapsed"]
    assert found["organised"].members == (1, 2) and "beta 1-3" in found["organised"].caption
    assert "rate 0.0 nats" in found["collapsed"].caption and found["collapsed"].members == (3,)
    assert region_of(lab["family"][0]["snapshots"][-1]) == "spread"


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
    assert rates[0] < COLLAPSED_RATE and rates[-1] >= 10
    best = distortions.index(min(distortions))
    assert all(a > b for a, b in zip(distortions[:best], distortions[1:best + 1])), distortions
    assert all(d - distortions[best] < 1.0 for d in distortions[best:]), distortions
    assert len(shipped["family"]) == 7 and all(len(m["snapshots"]) == 10 for m in shipped["family"])
    found = {r.name: [shipped["family"][i]["beta"] for i in r.members] for r in regions(shipped)}
    assert found == {"spread": [0.1, 0.3], "organised": [1.0, 3.0, 10.0, 20.0], "collapsed": [50.0]}


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
