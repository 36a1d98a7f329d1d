import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from explorer.classifier import ClassifierConfig
from explorer.data import ColoredMNIST
from explorer.files import atomic_write
from explorer.weights import load_model, read_metadata
from train import engine
from train.recipes import ClassifierRecipe, cosine_lr

from .conftest import ROOT

TINY = ClassifierConfig(channels=(4, 8), hidden=16)


@pytest.fixture
def train_set(pack):
    return ColoredMNIST(*pack, coloring="random")


def settings(run_dir, **changes):
    values = dict(run_dir=run_dir, epochs=2, batch_size=100, seed=3, log_every=4)
    return engine.Settings(**{**values, **changes})


class InterruptedAt(ClassifierRecipe):
    """A recipe whose process receives Ctrl-C (SIGINT) during step `at`."""

    at = 7

    def train_step(self, batch, step, total_steps):
        if step == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().train_step(batch, step, total_steps)


def states(recipe):
    return recipe.model.state_dict(), recipe.optimizer.state_dict()["state"]


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            torch.testing.assert_close(x[key], y[key], rtol=0, atol=0)


def test_epoch_batches_are_seeded_and_split_across_processes():
    a = engine.epoch_batches(1000, 100, seed=1, epoch=0)
    assert len(a) == 10 and torch.equal(torch.cat(a).sort().values, torch.arange(1000))
    assert torch.equal(torch.cat(a), torch.cat(engine.epoch_batches(1000, 100, seed=1, epoch=0)))
    assert not torch.equal(torch.cat(a), torch.cat(engine.epoch_batches(1000, 100, seed=1, epoch=1)))
    rank0 = engine.epoch_batches(1000, 100, seed=1, epoch=0, rank=0, world=2)
    rank1 = engine.epoch_batches(1000, 100, seed=1, epoch=0, rank=1, world=2)
    for whole, r0, r1 in zip(a, rank0, rank1):
        assert len(r0) == len(r1) == 50 and torch.equal(torch.cat([r0, r1]), whole)


def test_interrupted_run_resumes_to_the_same_state(tmp_path, train_set):
    make = lambda device: ClassifierRecipe(device, TINY)  # noqa: E731
    straight, result = engine.fit(make, train_set, settings(tmp_path / "straight"))
    assert result.steps == 20

    run = tmp_path / "interrupted"
    with pytest.raises(SystemExit, match="Interrupted at step 8"):
        engine.fit(lambda device: InterruptedAt(device, TINY), train_set, settings(run))
    checkpoint = torch.load(run / engine.CHECKPOINT, weights_only=True)
    assert checkpoint["step"] == 8 and checkpoint["optimizers"]["model"]["state"][0]["step"] == 8

    resumed, result = engine.fit(make, train_set, settings(run, resume=True))
    assert result.steps == 20
    assert_same(states(straight), states(resumed))
    steps = [json.loads(line)["step"] for line in (run / engine.LOG).read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 20  # no duplicated log lines after the resume


def test_resume_at_epoch_boundary_and_settings_checks(tmp_path, train_set):
    make = lambda device: ClassifierRecipe(device, TINY)  # noqa: E731
    engine.fit(make, train_set, settings(tmp_path, epochs=2, max_steps=10))
    assert torch.load(tmp_path / engine.CHECKPOINT, weights_only=True)["step"] == 10
    with pytest.raises(FileExistsError, match="--resume"):
        engine.fit(make, train_set, settings(tmp_path))
    with pytest.raises(ValueError, match="batch_size=100"):
        engine.fit(make, train_set, settings(tmp_path, batch_size=50, resume=True))
    _, result = engine.fit(make, train_set, settings(tmp_path, resume=True))
    assert result.steps == 20
    with pytest.raises(FileNotFoundError, match="without --resume"):
        engine.fit(make, train_set, settings(tmp_path / "empty", resume=True))


def test_resume_refuses_a_checkpoint_that_does_not_fit_and_skips_a_torn_log_line(tmp_path, train_set):
    """A checkpoint of another model, or a damaged one: a ValueError that says what to do (the CLI prints it
    on one line), not a traceback. A log line cut short by a kill does not stop the resume."""
    engine.fit(lambda device: ClassifierRecipe(device, TINY), train_set, settings(tmp_path, max_steps=4))
    wider = ClassifierConfig(channels=(8, 8), hidden=16)
    with pytest.raises(ValueError, match=r"is not of this model and these options \(RuntimeError: .*new --run-dir"):
        engine.fit(lambda device: ClassifierRecipe(device, wider), train_set, settings(tmp_path, resume=True))
    with (tmp_path / engine.LOG).open("a") as log:
        log.write('{"step": 4, "lo')
    _, result = engine.fit(lambda device: ClassifierRecipe(device, TINY), train_set, settings(tmp_path, resume=True))
    assert result.steps == 20 and all(json.loads(line) for line in (tmp_path / engine.LOG).read_text().splitlines())
    (tmp_path / engine.CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot be read .*new --run-dir"):
        engine.fit(lambda device: ClassifierRecipe(device, TINY), train_set, settings(tmp_path, resume=True))


def test_best_of_several_starts(tmp_path, train_set):
    make = lambda device: ClassifierRecipe(device, TINY)  # noqa: E731
    recipe, result, scores = engine.fit_best_start(make, train_set, settings(tmp_path), starts=3, trial=0.2,
                                                   score="accuracy")  # 4 of 20 steps
    assert list(scores) == [3, 4, 5] and len(set(scores.values())) == 3
    best = max(scores, key=scores.get)
    assert result.seed == best and result.steps == 20
    for seed in scores:  # the others stopped after the trial
        assert torch.load(tmp_path / f"start-{seed}" / engine.CHECKPOINT, weights_only=True)["step"] == (20 if seed == best else 4)
    straight, _ = engine.fit(make, train_set, settings(tmp_path / "straight", seed=best))
    assert_same(states(straight), states(recipe))  # the chosen start continued as if never paused
    _, again, _ = engine.fit_best_start(make, train_set, settings(tmp_path, resume=True), 3, 0.2, "accuracy")
    assert again.steps == 20 and again.seed == best  # resuming a finished choice changes nothing


def test_training_lowers_the_loss(tmp_path, train_set):
    """In the precision and layout that the training CLI chooses on this machine."""
    chosen = engine.choose_precision("auto", torch.device("cpu"))
    _, result = engine.fit(lambda device: ClassifierRecipe(device, ClassifierConfig()), train_set,
                           settings(tmp_path, epochs=3, log_every=5, bf16=chosen.bf16, channels_last=chosen.channels_last))
    assert result.curve[-1]["loss"] < 0.7 * result.curve[0]["loss"]


AVX2_ONLY = {"cpu": "AMD EPYC", "kernels": "AVX2", "avx2": True, "avx512": False, "avx512_bf16": False, "amx": False,
             "accelerator": "none"}
AMX = {**AVX2_ONLY, "cpu": "Intel Xeon", "kernels": "AVX512", "avx512": True, "avx512_bf16": True, "amx": True}


@pytest.mark.parametrize("caps, requested, bf16, warns", [
    (AVX2_ONLY, "auto", False, False), (AVX2_ONLY, "fp32", False, False), (AVX2_ONLY, "bf16", True, True),
    (AMX, "auto", True, False), (AMX, "fp32", False, False), (AMX, "bf16", True, False),
    ({**AMX, "kernels": "AVX2"}, "auto", False, False),  # bf16 units, but torch's kernels capped at AVX2
    ({**AVX2_ONLY, "kernels": "AVX512", "avx512": True, "avx512_bf16": True}, "auto", True, False),  # AVX512-BF16, no AMX
])
def test_precision_follows_the_cpu(monkeypatch, recwarn, caps, requested, bf16, warns):
    monkeypatch.setattr(engine, "machine_capabilities", lambda: caps)
    chosen = engine.choose_precision(requested, torch.device("cpu"))
    assert chosen.bf16 == bf16 and chosen.channels_last
    assert chosen.name == ("bf16 autocast" if bf16 else "fp32") + ", channels_last" and caps["cpu"] in chosen.reason
    warned = [str(w.message) for w in recwarn if "not native" in str(w.message)]
    assert len(warned) == warns and all(caps["cpu"] in m and "--precision fp32" in m for m in warned)
    with pytest.raises(ValueError, match="choose one of auto, bf16, fp32"):
        engine.choose_precision("fp16", torch.device("cpu"))


def test_machine_capabilities_as_torch_sees_them():
    caps = engine.machine_capabilities()
    assert caps["kernels"] == torch.backends.cpu.get_cpu_capability() and caps["cpu"]
    assert caps["amx"] == torch.cpu._is_amx_tile_supported() and caps["accelerator"] in ("none", "MPS") or \
        caps["accelerator"].startswith("CUDA ")


def test_cosine_schedule():
    assert cosine_lr(0, 1000, 1.0, warmup=100) == pytest.approx(0.01)
    assert cosine_lr(99, 1000, 1.0, warmup=100) == pytest.approx(1.0)
    assert cosine_lr(550, 1000, 1.0, warmup=100) == pytest.approx(0.5)
    assert cosine_lr(1000, 1000, 1.0, warmup=100) == pytest.approx(0.0)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old")

    def crash(tmp):
        tmp.write_bytes(b"half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["weights.bin"]
    atomic_write(path, lambda tmp: tmp.write_bytes(b"new"))
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_ddp_two_cpu_processes(tmp_path):
    """The CLI under torchrun, 2 processes of one thread: a classifier (one optimizer) and a CycleGAN
    (four parts, two optimizers). The two runs start together: most of each is its processes' imports,
    one core's work, so on 2 cores they overlap (30 s for both against 21 s each, one after the other)."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    runs = {"classifier": (["classifier", "--epochs", "1", "--batch-size", "100"], 30),  # 3 colorings x 1000 digits / 100
            "cyclegan": (["cyclegan", "--max-steps", "3", "--batch-size", "16"], 3)}
    started = {name: subprocess.Popen([torchrun, "--standalone", "--nproc_per_node=2", "-m", "train", *command,
                                       "--sample-pack", "--run-dir", str(tmp_path / name), "--out",
                                       str(tmp_path / f"{name}.safetensors")],
                                      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      env={**os.environ, "OMP_NUM_THREADS": "1"})
               for name, (command, _) in runs.items()}
    for name, (_, steps) in runs.items():
        _, stderr = started[name].communicate(timeout=300)
        assert started[name].returncode == 0, stderr[-3000:]
        training = read_metadata(tmp_path / f"{name}.safetensors")["training"]
        assert training["processes"] == 2 and training["steps"] == steps
        assert (tmp_path / name / engine.LOG).read_text().strip()


@pytest.mark.parametrize("command", ["classifier", "vae", "cyclegan", "cyclegan-hue", "lab", "all", "evaluate", "web",
                                     "report", "sample-pack"])
def test_every_command_prints_its_help(command, capsys):
    from train.__main__ import main
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0 and "usage: python -m train" in capsys.readouterr().out


@pytest.mark.parametrize("option", [["classifier", "--epochs", "0"], ["vae", "--kind", "joint", "--lr", "0"],
                                    ["vae", "--kind", "joint", "--lr", "nan"], ["cyclegan", "--batch-size", "-1"],
                                    ["classifier", "--max-steps", "0"], ["vae", "--kind", "continuous", "--dropout", "1"],
                                    ["vae", "--kind", "discrete", "--starts", "two"], ["lab", "--betas", "0"],
                                    ["lab", "--snapshots", "1"]])
def test_numbers_out_of_range_are_refused_before_training(option, capsys):
    """0 epochs would write an untrained model over a shipped file, batch 0 divides by zero, --max-steps 0 and
    --lr 0 used to mean "the default": each is refused by argparse with a one-line message (exit code 2)."""
    from train.__main__ import main
    with pytest.raises(SystemExit) as exit:
        main(option)
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit.value.code == 2 and error.startswith("python -m train") and f"argument {option[-2]}" in error, error


def test_each_set_has_its_vae_recipe():
    from train.__main__ import vae_recipe
    palette = vae_recipe("joint", "digit")  # the study's palette set, as it was trained
    assert (palette.lr, palette.epochs, palette.starts, palette.objective.balance) == (1e-3, 8, 3, 10.0)
    discrete = vae_recipe("discrete", "any")
    assert discrete.objective.capacity_discrete == 55 and discrete.objective.free_bits_discrete
    assert not discrete.objective.balance and discrete.lr == 3e-3 and discrete.epochs == 15
    assert vae_recipe("discrete", "digit") == dataclasses.replace(discrete, epochs=5)  # one recipe, fewer epochs
    assert vae_recipe("continuous", "any").objective.beta < 1
    for kind in ("continuous", "joint"):  # the any-color set's encoders without dropout, the palette's with the study's
        assert vae_recipe(kind, "any").config.dropout == 0 and vae_recipe(kind, "digit").config.dropout == 0.1
    assert (vae_recipe("joint", "any").epochs, vae_recipe("joint", "any").objective.code_cycle) == (24, 60.0)
    assert vae_recipe("continuous", "any").epochs == 80  # 97% read right in every coloring over seeds and precisions


def test_train_all_resumes_where_it_stopped(tmp_path, monkeypatch):
    """`train all --resume` skips the steps an interrupted `train all` finished and resumes the step it
    was in from its checkpoint; without --resume it starts again from the first step. (The steps'
    training is tested above; here `main` only records the commands it is given.)"""
    import train.__main__ as cli
    monkeypatch.chdir(tmp_path)
    ran = []

    def step(command):
        ran.append(command)
        return 1 if command[:3] == ["vae", "--kind", "joint"] and not (tmp_path / "ok").exists() else 0

    monkeypatch.setattr(cli, "main", step)
    with pytest.raises(SystemExit, match="vae --kind joint failed"):  # killed in the palette joint VAE
        cli.train_all(argparse.Namespace(data_dir=None, resume=False))
    assert ran == [["sample-pack"], ["classifier"], ["vae", "--kind", "continuous"], ["vae", "--kind", "discrete"],
                   ["vae", "--kind", "joint"]]
    (tmp_path / "runs" / "vae-joint" / "start-1").mkdir(parents=True)
    (tmp_path / "runs" / "vae-joint" / "start-1" / engine.CHECKPOINT).touch()
    (tmp_path / "ok").touch()
    ran.clear()
    cli.train_all(argparse.Namespace(data_dir="mnist", resume=True))
    assert ran[0] == ["vae", "--kind", "joint", "--resume", "--data-dir", "mnist"]
    assert ran[1] == ["vae", "--kind", "continuous", "--coloring", "any", "--data-dir", "mnist"]  # no checkpoint
    assert ran[-6][:3] == ["vae", "--continuous", "2"]  # the 2-D VAE, then the Lab's family, before the two CycleGANs
    assert ran[-5] == ["lab", "--data-dir", "mnist"]
    assert ran[-3:] == [["cyclegan-hue", "--data-dir", "mnist"], ["web"], ["report"]] and len(ran) == 10
    ran.clear()
    cli.train_all(argparse.Namespace(data_dir=None, resume=True))  # everything done
    assert ran == []
    cli.train_all(argparse.Namespace(data_dir=None, resume=False))
    assert ran[0] == ["sample-pack"] and len(ran) == 14


def test_vae_architecture_options_are_recorded(tmp_path):
    """`train vae --channels --hidden --dropout` change the kind's architecture (the latent stays the
    preset's), and the weights file records the config it was built from, so that it loads."""
    from train.__main__ import main
    out = tmp_path / "vae.safetensors"
    assert main(["vae", "--kind", "continuous", "--coloring", "any", "--sample-pack", "--max-steps", "2",
                 "--channels", "8", "16", "--hidden", "32", "--dropout", "0.2", "--out", str(out),
                 "--run-dir", str(tmp_path / "run")]) == 0
    assert read_metadata(out)["config"] == {"continuous": 16, "categorical": [], "channels": [8, 16], "hidden": 32,
                                            "dropout": 0.2}
    assert load_model(out).config.channels == (8, 16)
