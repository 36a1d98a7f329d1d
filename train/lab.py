"""The beta Lab's family: `python -m train lab`.

The same 2-D continuous VAE (any color) trained at each of LAB_BETAS, with SNAPSHOTS snapshots of each run, for
the app's Lab tab (explorer/ui/lab.py, web/lab.js), which shows them without the server. Each snapshot keeps what
the Lab draws: its decoder for the page (ONNX), the posterior means of the sample pack's digits (the map), and
its rate and distortion on the MNIST test set (the rate-distortion plane, Alemi et al. 2018, "Fixing a Broken
ELBO"). Writes `web/lab/lab.json` and `web/lab/beta-<beta>/step-<step>.onnx`, all at once when the family is done
(a killed run leaves the folder as it was); the runs, their checkpoints and the snapshots made so far are in
`runs/lab/`, so `--resume` continues a killed run at the step it reached.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from explorer.data import AnyColor, in_coloring, load_mnist, load_sample_pack
from explorer.explore import manifold_latents, manifold_values
from explorer.files import atomic_write
from explorer.registry import export_decoder
from explorer.vae import VAE, VAEConfig, kl_gaussian, reconstruction_nll

from . import engine
from .recipes import VAEObjective, VAERecipe

# The Lab's model: the shipped VAEs' Encoder and Decoder with half their channels and half the encoder's hidden
# layer: a decoder of 9,763 parameters (a 50 KB ONNX file), so that 70 snapshots fit the repository and the page
# decodes each one's grid at once.
LAB_CONFIG = VAEConfig(continuous=2, categorical=(), channels=(16, 32), hidden=128, dropout=0.0)
LAB_BETAS = (0.1, 0.3, 1.0, 3.0, 10.0, 20.0, 50.0)  # chosen by measurement: docs/models.md, "The beta Lab"
LAB_EPOCHS = 12
LAB_LR = 3e-3
LAB_BATCH = 256
SNAPSHOTS = 10  # per beta: step 0, then FIRST_SNAPSHOT (or 1% of the steps if fewer) to the last step, evenly
FIRST_SNAPSHOT = 20  # spaced on a log scale
TEST_COLORING = "random"  # the test digits' coloring for rate and distortion (hues from the fixed test seed)
MEASURE_SEED = 0  # the posterior draws of the distortion
NEIGHBORS = 5  # neighbors_same_class's k
GRID_VALUES = manifold_values(15)  # the Lab's manifold grid, 15 x 15 (the page decodes it for every snapshot)
GRID_EXTENT = float(GRID_VALUES.max())  # its outermost latent value: 1.83, the prior's 96.7% quantile
LAB_DIR = Path("web") / "lab"
RUN_DIR = Path("runs") / "lab"


@dataclass(frozen=True)
class LabSettings:
    betas: tuple[float, ...] = LAB_BETAS
    epochs: int = LAB_EPOCHS
    lr: float = LAB_LR
    batch_size: int = LAB_BATCH
    seed: int = 0
    precision: str = "auto"
    snapshots: int = SNAPSHOTS
    max_steps: int | None = None  # smoke runs: the schedule still spans `epochs`
    sample_pack: bool = False  # train and test on the sample pack (smoke runs)
    data_dir: str | None = None


def snapshot_steps(total_steps: int, count: int = SNAPSHOTS) -> list[int]:
    """The steps a run is kept at: 0 (the untrained model), then `count` - 1 steps from FIRST_SNAPSHOT (1% of
    `total_steps` if that is fewer, at least 1) to `total_steps` evenly spaced on a log scale, rounded
    (duplicates dropped): the latent organises itself in the first few hundred steps. E.g. 2808 steps (12 epochs) -> [0, 20, 37, 69, 128, 237, 440, 816, 1513, 2808]."""
    first = min(FIRST_SNAPSHOT, max(1, total_steps // 100))
    exponents = [i / (count - 2) for i in range(count - 1)] if count > 2 else [1.0]
    steps = [0] + [round(first * (total_steps / first) ** e) for e in exponents]
    return sorted(set(steps))


def beta_name(beta: float) -> str:
    """A beta's folder name: 0.1 -> "beta-0.1", 3.0 -> "beta-3"."""
    return f"beta-{beta:g}"


@torch.no_grad()
def measure(model: VAE, test_x: torch.Tensor, digits_x: torch.Tensor, digit_labels: torch.Tensor,
            batch_size: int = 1000) -> dict:
    """A snapshot's figures: on the test digits test_x (N, 3, 28, 28) in [0, 1], the rate (KL(q(z|x) || p(z)),
    nats per digit), each dimension's part of it (`kl`), and the distortion (-log p(x|z), Bernoulli, one draw
    z ~ q(z|x) seeded by MEASURE_SEED, nats per digit); on the Lab's digits digits_x (M, 3, 28, 28) with their
    labels (M,): their posterior means (`means`, (M, 2)), how organised their map is (neighbors_same_class), and
    the share of them inside the manifold grid's extent (`inside_grid`: both |z| <= GRID_EXTENT)."""
    model = model.eval()
    generator = torch.Generator().manual_seed(MEASURE_SEED)
    kl_dims, distortion = torch.zeros(model.spec.continuous, dtype=torch.float64), 0.0
    for start in range(0, len(test_x), batch_size):
        x = test_x[start:start + batch_size]
        post = model.encode(x)
        kl_dims += kl_gaussian(post.mean, post.log_var).double().sum(0)
        z = post.mean + torch.exp(0.5 * post.log_var) * torch.randn(post.mean.shape, generator=generator)
        distortion += reconstruction_nll(model.decoder(z), x).double().sum().item()
    kl_dims /= len(test_x)
    means = model.encode(digits_x).mean.double()
    return {"rate": round(kl_dims.sum().item(), 3), "distortion": round(distortion / len(test_x), 3),
            "kl": [round(v, 3) for v in kl_dims.tolist()],
            "neighbors_same_class": round(neighbors_same_class(means, digit_labels), 4),
            "inside_grid": round((means.abs() <= GRID_EXTENT).all(1).double().mean().item(), 4),
            "means": [[round(v, 3) for v in row] for row in means.tolist()]}


def neighbors_same_class(points: torch.Tensor, labels: torch.Tensor, k: int = NEIGHBORS) -> float:
    """How organised a map is: the share of the points (N, 2) that are of the class their k nearest other points
    (Euclidean) vote for (labels (N,), 10 classes; a tie goes to the lowest class): leave-one-out k-NN accuracy, in
    [0, 1]. About 0.1 for classes placed at random; the shipped family's untrained model scores 0.14."""
    neighbors = NearestNeighbors(n_neighbors=k + 1).fit(points.numpy())
    index = neighbors.kneighbors(points.numpy(), return_distance=False)[:, 1:]  # itself first: left out
    votes = labels.numpy()[index]
    predicted = [np.bincount(row, minlength=10).argmax() for row in votes]
    return float((np.array(predicted) == labels.numpy()).mean())


def lab_data(settings: LabSettings) -> tuple[AnyColor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """The training set (any color), the test digits in TEST_COLORING, and the Lab's digits (the sample pack in
    TEST_COLORING, (1000, 3, 28, 28) in [0, 1]) with their labels."""
    pack_images, pack_labels = load_sample_pack()
    if settings.sample_pack:
        images, labels, test_images, test_labels = pack_images, pack_labels, pack_images, pack_labels
        data = f"sample pack ({len(labels)} MNIST test digits; smoke runs only)"
    else:
        images, labels = load_mnist("train", settings.data_dir)
        test_images, test_labels = load_mnist("test", settings.data_dir)
        data = f"MNIST train set ({len(labels)} images), any color"
    return (AnyColor(images, labels), in_coloring(test_images, test_labels, TEST_COLORING),
            in_coloring(pack_images, pack_labels, TEST_COLORING), pack_labels, data)


def train_member(beta: float, settings: LabSettings, train_set, test_x, digits_x, digit_labels, run_dir: Path,
                 resume: bool) -> list[dict]:
    """Train the Lab's VAE at `beta` (on engine.default_device()), stopping at each snapshot step to measure it on
    the CPU and export its decoder into `run_dir`/step-<step>.onnx (its `decoder`: beta-<beta>/step-<step>.onnx, the
    path train_lab gives it beside lab.json). Each snapshot's figures (measure;
    `train_seconds`: the run's training time so far) are kept in `run_dir`/snapshots.json as it is made, with the
    settings that made them; with `resume`, the snapshots made are kept and training continues from the run's
    checkpoint. Returns the snapshots. Raises ValueError where `resume` meets a run made with other settings."""
    precision = engine.choose_precision(settings.precision, engine.default_device())
    objective = VAEObjective(beta=beta)
    preview = digits_x[:10]

    def make_recipe(device):
        return VAERecipe(device, LAB_CONFIG, objective, preview, lr=settings.lr)

    total_steps = len(train_set) // settings.batch_size * settings.epochs
    steps = [s for s in snapshot_steps(total_steps, settings.snapshots) if s <= (settings.max_steps or total_steps)]
    kept = run_dir / "snapshots.json"
    made_by = json.loads(json.dumps({"beta": beta, "config": dataclasses.asdict(LAB_CONFIG), "epochs": settings.epochs,
                                     "lr": settings.lr, "batch_size": settings.batch_size, "seed": settings.seed,
                                     "snapshots": settings.snapshots}))  # as snapshots.json keeps it
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)
    record = json.loads(kept.read_text()) if resume and kept.is_file() else {"made_by": made_by, "snapshots": []}
    snapshots = record["snapshots"][:len(steps)]
    if record["made_by"] != made_by or [s["step"] for s in snapshots] != steps[:len(snapshots)]:
        raise ValueError(f"--resume: the run in {run_dir} was made with other settings ({record['made_by']}); "
                         "resume with the command that started it, or start again without --resume")
    for step in steps[len(snapshots):]:
        start = time.perf_counter()
        seconds = 0.0
        if step == 0:  # the untrained model, as engine.fit builds it
            torch.manual_seed(settings.seed)
            model = make_recipe(torch.device("cpu")).model
        else:
            fit_settings = engine.Settings(run_dir=run_dir, epochs=settings.epochs, batch_size=settings.batch_size,
                                           seed=settings.seed, resume=(run_dir / engine.CHECKPOINT).exists(),
                                           max_steps=step, bf16=precision.bf16, channels_last=precision.channels_last)
            recipe, result = engine.fit(make_recipe, train_set, fit_settings)
            model, seconds = recipe.model, result.seconds
        model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()
        decoder = f"{beta_name(beta)}/step-{step:05d}.onnx"
        export_decoder(model, run_dir / Path(decoder).name)
        snapshot = {"step": step, "epoch": round(step / (total_steps / settings.epochs), 3), "decoder": decoder,
                    "train_seconds": seconds,
                    **measure(model, test_x, digits_x, digit_labels)}
        snapshots.append(snapshot)
        atomic_write(kept, lambda tmp: tmp.write_text(json.dumps({"made_by": made_by, "snapshots": snapshots})))
        print(f"beta {beta:g}, step {step}: rate {snapshot['rate']:.2f}, distortion {snapshot['distortion']:.1f} "
              f"nats ({time.perf_counter() - start:.1f} s)", flush=True)
    return snapshots


def train_lab(settings: LabSettings, out: Path = LAB_DIR, run_dir: Path = RUN_DIR, resume: bool = False) -> Path:
    """Train the whole family (every beta of `settings`, one after the other) and write `out`/lab.json, which the
    Lab tab reads: the settings, the Lab's digits (labels; the first of each class as pixels, for the
    reconstructions), and for each beta its snapshots (step, epoch, decoder, rate, distortion, kl, means), beside
    the decoders, in a new folder that replaces `out` whole once it is complete. Returns the path of lab.json.
    Raises DataError without MNIST, ValueError where `resume` meets a run made with other settings."""
    started = time.perf_counter()
    train_set, test_x, digits_x, digit_labels, data = lab_data(settings)
    family = [{"beta": beta, "snapshots": train_member(beta, settings, train_set, test_x, digits_x, digit_labels,
                                                    run_dir / beta_name(beta), resume)}
              for beta in settings.betas]
    reconstructed = torch.stack([torch.nonzero(digit_labels == d)[0, 0] for d in range(10)])
    precision = engine.choose_precision(settings.precision, engine.default_device())
    lab = {
        "model": {"config": dataclasses.asdict(LAB_CONFIG), "objective": "negative ELBO with beta x KL (Higgins et al. 2017)",
                  "lr": settings.lr, "batch_size": settings.batch_size, "epochs": settings.epochs,
                  "max_steps": settings.max_steps, "seed": settings.seed, "precision": precision.name,
                  "machine": engine.machine_capabilities(), "torch": torch.__version__, "data": data},
        "test": {"coloring": TEST_COLORING, "digits": len(test_x), "distortion_draw_seed": MEASURE_SEED},
        "command_seconds": round(time.perf_counter() - started, 1),  # this command's (a resumed run's: since it resumed)
        "grid": [[round(v, 4) for v in row] for row in manifold_latents(GRID_VALUES).tolist()],
        "digits": {"labels": digit_labels.tolist(), "reconstructed": reconstructed.tolist(),
                   "pixels": [(digits_x[i] * 255).round().to(torch.uint8).permute(1, 2, 0).flatten().tolist()
                              for i in reconstructed]},
        "family": family,
    }
    staging, old = out.with_name(f".{out.name}.new"), out.with_name(f".{out.name}.old")
    shutil.rmtree(staging, ignore_errors=True)
    for member in family:
        for snapshot in member["snapshots"]:
            (staging / snapshot["decoder"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / beta_name(member["beta"]) / Path(snapshot["decoder"]).name,
                            staging / snapshot["decoder"])
    (staging / "lab.json").write_text(json.dumps(lab, separators=(",", ":")))
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)  # the new family replaces the old one whole: never one's figures with another's decoders
    shutil.rmtree(old, ignore_errors=True)
    return out / "lab.json"
