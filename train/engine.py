"""The one training loop every model shares.

A recipe says what one training step computes; the engine does the rest: device, seeds, data order,
DistributedDataParallel under torchrun, progress bar, loss log, sample grids, checkpoints and resume.

Run folder layout: checkpoint.pt (latest, written atomically at each epoch's end and on Ctrl-C or
SIGTERM), log.jsonl (running losses), samples/epoch-NNN.png (for models that make images).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import platform
import signal
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import PIL.Image
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from explorer.files import atomic_write

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


class Recipe(Protocol):
    """What one model's training computes. Schedules are functions of (step, total_steps): no state."""

    parts: dict[str, nn.Module]  # checkpointed modules
    optimizers: dict[str, torch.optim.Optimizer]  # checkpointed optimizers

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Wrap the trainable modules used in train_step (DistributedDataParallel, or identity)."""

    def train_step(self, batch: tuple[torch.Tensor, ...], step: int, total_steps: int) -> dict[str, float]:
        """One optimisation step on a batch (the tensors the data set gives); returns the losses to log."""

    def sample_grid(self) -> np.ndarray | None:
        """An image grid, uint8 (H, W, 3), showing what the model makes now, or None."""


@dataclass
class Settings:
    run_dir: Path
    epochs: int
    batch_size: int  # global: split across processes under torchrun
    seed: int = 0
    resume: bool = False
    max_steps: int | None = None  # stop early (smoke runs); the schedules still span all epochs
    log_every: int = 50
    bf16: bool = False  # torch.autocast with bfloat16 around the training step
    channels_last: bool = False  # NHWC memory format for the modules and the images (choose_precision sets both)


@dataclass
class Result:
    steps: int
    epochs: int
    seconds: float
    device: str
    world_size: int
    seed: int
    curve: list[dict] = field(default_factory=list)  # logged running losses


def default_device(local_rank: int = 0) -> torch.device:
    """The device training runs on: this process's CUDA device, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device(f"cuda:{local_rank}")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def machine_capabilities() -> dict[str, str | bool]:
    """What decides the fast path here: the CPU's model and vector units as torch sees them (its kernels'
    instruction set, AVX-512, AVX512-BF16, AMX tiles), and the accelerator, if any."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    accelerator = ("CUDA " + torch.cuda.get_device_name() if torch.cuda.is_available()
                   else "MPS" if torch.backends.mps.is_available() else "none")
    return {"cpu": cpu, "kernels": torch.backends.cpu.get_cpu_capability(), "avx2": torch.cpu._is_avx2_supported(),
            "avx512": torch.cpu._is_avx512_supported(), "avx512_bf16": torch.cpu._is_avx512_bf16_supported(),
            "amx": torch.cpu._is_amx_tile_supported(), "accelerator": accelerator}


PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class Precision:
    """How a training step computes, and why: bf16 autocast or fp32, and the memory format of the images
    and convolutions (channels_last is NHWC)."""

    bf16: bool
    channels_last: bool
    reason: str

    @property
    def name(self) -> str:
        """As the weights file records it: "bf16 autocast" or "fp32", then the memory format."""
        return ("bf16 autocast" if self.bf16 else "fp32") + (", channels_last" if self.channels_last else "")


def choose_precision(requested: str, device: torch.device) -> Precision:
    """The precision for `requested` ("auto", "bf16" or "fp32") on `device`.

    auto takes bf16 autocast where the hardware computes bf16 natively: CUDA devices that support it, and
    CPUs with AMX or AVX512-BF16 whose torch kernels run AVX-512 (on 2 cores of an AMD EPYC with
    AVX512-BF16 and no AMX, bf16 trained the VAEs 1.72-2.10x and the CycleGANs 1.35-1.37x as fast as fp32
    with channels_last: docs/performance.md). Elsewhere bf16 is emulated through fp32 and a training step
    is 7-12x slower than in fp32 (AMD EPYC, AVX2 only), so auto takes fp32. On the CPU both use
    channels_last, the faster layout for either (2 cores of an Intel Xeon with AMX, and of the same with
    its kernels capped at AVX2: python -m bench). Asking for bf16 where it
    is emulated warns once. Raises ValueError for another name."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        native, hardware = torch.cuda.is_bf16_supported(including_emulation=False), torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        caps = machine_capabilities()
        native = caps["kernels"] == "AVX512" and bool(caps["amx"] or caps["avx512_bf16"])
        hardware = f"{caps['cpu']} (torch kernels: {caps['kernels']}; AMX: {caps['amx']}; AVX512-BF16: {caps['avx512_bf16']})"
    else:  # MPS: fp32, as its bf16 support depends on the macOS release
        native, hardware = False, device.type.upper()
    channels_last = device.type != "mps"
    if requested == "fp32" or (requested == "auto" and not native):
        why = "asked for" if requested == "fp32" else "auto: no native bf16 on"
        return Precision(False, channels_last, f"fp32 ({why} {hardware})")
    if not native:
        warnings.warn(f"--precision bf16 on {hardware}: bf16 is not native there, torch emulates it through fp32 "
                      f"and training is several times slower than with --precision fp32 (or auto)",
                      stacklevel=2)
    why = "asked for" if requested == "bf16" else "auto: native bf16 on"
    return Precision(True, channels_last, f"bf16 autocast ({why} {hardware})")


class Distributed:
    """Rank, world size and device; initialises the process group when run under torchrun."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = default_device(int(os.environ.get("LOCAL_RANK", "0")))
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.set_device(self.device)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        if self.world == 1:
            return module
        return DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average logged values over processes."""
        if self.world == 1 or not values:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return dict(zip(values, (t / self.world).tolist()))


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[torch.Tensor]:
    """This process's index batches for an epoch: a permutation fixed by (seed, epoch), split across
    processes; the last incomplete global batch is dropped."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    per_rank = batch_size // world
    return [order[start + rank * per_rank: start + (rank + 1) * per_rank]
            for start in range(0, n - batch_size + 1, batch_size)]


class _StopRequest:
    """Ctrl-C or SIGTERM asks the loop to stop after the current step (a second Ctrl-C stops at once)."""

    def __init__(self):
        self.requested = False
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def keep_freed_memory() -> None:
    """Let glibc's malloc keep freed memory for the next tensors instead of returning it to the system.

    By default it gives each freed tensor of a few MB back to the kernel, and the next step's tensors
    pay a page fault for every 4 KB: a fifth of a VAE step's time here. A no-op outside glibc."""
    if platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(None)
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # blocks up to 32 MB (glibc's largest) from the heap, not mmap
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)  # and the heap shrinks only when 1 GB at its top is free


def set_memory_format(recipe: Recipe, settings: Settings) -> None:
    """The recipe's modules in channels_last (NHWC) if the settings ask for it."""
    if settings.channels_last:
        for module in recipe.parts.values():
            module.to(memory_format=torch.channels_last)


def run_step(recipe: Recipe, batch: tuple[torch.Tensor, ...], step: int, total_steps: int,
             settings: Settings) -> dict[str, float]:
    """One training step as fit runs it: images in channels_last and bf16 autocast if the settings ask."""
    if settings.channels_last:
        batch = tuple(t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in batch)
    with torch.autocast(batch[0].device.type, dtype=torch.bfloat16, enabled=settings.bf16):
        return recipe.train_step(batch, step, total_steps)


def fit(make_recipe: Callable[[torch.device], Recipe], train_set, settings: Settings) -> tuple[Recipe, Result]:
    """Train the recipe that make_recipe(device) builds on train_set (indexable by a tensor of
    indices, giving a tuple of tensors such as (images, labels)); resume from the run folder's
    checkpoint if asked."""
    env = Distributed()
    keep_freed_memory()
    torch.manual_seed(settings.seed)  # the same initial weights in every process
    recipe = make_recipe(env.device)
    set_memory_format(recipe, settings)
    torch.manual_seed(settings.seed + env.rank)
    run_dir = Path(settings.run_dir)
    steps_per_epoch = len(train_set) // settings.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch size {settings.batch_size} is larger than the data set ({len(train_set)} images)")
    total_steps = steps_per_epoch * settings.epochs
    state = {"step": 0, "seconds": 0.0, "curve": []}
    if settings.resume:
        state = _load_checkpoint(run_dir, recipe, env, settings)
    elif env.main and (run_dir / CHECKPOINT).exists():
        raise FileExistsError(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --run-dir")
    recipe.distribute(env.wrap)
    if env.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _trim_log(run_dir / LOG, state["step"])
        settings_text = json.dumps(asdict(settings), default=str, indent=1)
        atomic_write(run_dir / "settings.json", lambda tmp: tmp.write_text(settings_text))

    step, curve = state["step"], state["curve"]
    stop_at = min(total_steps, settings.max_steps or total_steps)
    started, seconds_before = time.perf_counter(), state["seconds"]
    running: dict[str, list[float]] = {}

    def save():
        if env.main:
            seconds = seconds_before + time.perf_counter() - started
            _save_checkpoint(run_dir, recipe, step, seconds, curve, settings)

    with _StopRequest() as stop:
        while step < stop_at:
            epoch, offset = divmod(step, steps_per_epoch)
            batches = epoch_batches(len(train_set), settings.batch_size, settings.seed, epoch, env.rank, env.world)
            bar = tqdm(total=steps_per_epoch, initial=offset, desc=f"epoch {epoch + 1}/{settings.epochs}",
                       disable=not env.main, dynamic_ncols=True, leave=True)
            for indices in batches[offset:]:
                batch = tuple(t.to(env.device, non_blocking=True) for t in train_set[indices])
                try:
                    losses = run_step(recipe, batch, step, total_steps, settings)
                except NotImplementedError as error:  # an op that Apple's MPS device lacks
                    if env.device.type != "mps":
                        raise
                    raise SystemExit(f"{error}\nAn op of this model is missing on Apple's MPS device in torch "
                                     f"{torch.__version__}: set PYTORCH_ENABLE_MPS_FALLBACK=1 to run it on the CPU") from None
                step += 1
                for name, value in losses.items():
                    running.setdefault(name, []).append(float(value))
                bar.update(1)
                if step % settings.log_every == 0 or step == stop_at:
                    means = env.mean({name: sum(v) / len(v) for name, v in running.items()})
                    running.clear()
                    entry = {"step": step, "epoch": step / steps_per_epoch, **means}
                    curve.append(entry)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
                    if env.main:
                        with open(run_dir / LOG, "a") as log:
                            log.write(json.dumps(entry) + "\n")
                if stop.requested or step == stop_at:
                    break
            bar.close()
            if stop.requested:
                save()
                raise SystemExit(f"Interrupted at step {step}; checkpoint saved in {run_dir / CHECKPOINT}. "
                                 f"Continue with the same command and --resume.")
            if step % steps_per_epoch == 0 or step == stop_at:
                if env.main:
                    grid = recipe.sample_grid()
                    if grid is not None:
                        _save_grid(grid, run_dir / "samples" / f"epoch-{math.ceil(step / steps_per_epoch):03d}.png")
                save()

    seconds = seconds_before + time.perf_counter() - started
    return recipe, Result(steps=step, epochs=settings.epochs, seconds=round(seconds, 1), device=str(env.device),
                          world_size=env.world, seed=settings.seed, curve=curve)


def fit_best_start(make_recipe: Callable[[torch.device], Recipe], train_set, settings: Settings, starts: int,
                   trial: float, score: str) -> tuple[Recipe, Result, dict[int, float]]:
    """Random restarts chosen without labels: train `starts` runs (seeds seed, seed + 1, ...) for the
    fraction `trial` of the steps each, then continue only the one whose logged `score` is highest then
    (as IIC keeps the head with the best objective). Each start keeps its own folder,
    run_dir/start-<seed>; the result's seconds include every trial. Returns the recipe, the result and
    each start's score."""
    trial_steps = round(trial * (len(train_set) // settings.batch_size) * settings.epochs)
    trials, scores, seconds = {}, {}, {}
    for seed in range(settings.seed, settings.seed + starts):
        run_dir = Path(settings.run_dir) / f"start-{seed}"
        trials[seed] = replace(settings, run_dir=run_dir, seed=seed,
                               resume=settings.resume and (run_dir / CHECKPOINT).exists())
        _, result = fit(make_recipe, train_set, replace(trials[seed], max_steps=trial_steps))
        logged = [entry[score] for entry in result.curve if entry["step"] <= trial_steps][-3:]
        scores[seed] = sum(logged) / len(logged)  # the last few logged means
        seconds[seed] = result.seconds
    best = max(scores, key=scores.get)
    recipe, result = fit(make_recipe, train_set, replace(trials[best], resume=True))
    total = sum(seconds.values()) - seconds[best] + result.seconds
    return recipe, replace(result, seconds=round(total, 1)), scores


def _save_checkpoint(run_dir: Path, recipe: Recipe, step: int, seconds: float, curve: list, settings: Settings):
    checkpoint = {
        "step": step,
        "seconds": seconds,
        "curve": curve,
        "batch_size": settings.batch_size,
        "seed": settings.seed,
        "parts": {name: module.state_dict() for name, module in recipe.parts.items()},
        "optimizers": {name: opt.state_dict() for name, opt in recipe.optimizers.items()},
        "rng": torch.get_rng_state(),
    }
    atomic_write(run_dir / CHECKPOINT, lambda tmp: torch.save(checkpoint, tmp))


def _load_checkpoint(run_dir: Path, recipe: Recipe, env: Distributed, settings: Settings) -> dict:
    """The run's last checkpoint loaded into the recipe's parts and optimizers, the random state restored.
    Raises FileNotFoundError if there is none, ValueError if it cannot be read or does not fit the run."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"--resume: {path} does not exist; start the run without --resume")
    try:
        checkpoint = torch.load(path, map_location=env.device, weights_only=True)
    except Exception as error:
        raise ValueError(f"--resume: {path} cannot be read as a checkpoint ({type(error).__name__}: damaged or "
                         f"cut short); start again without --resume in a new --run-dir") from None
    for key in ("batch_size", "seed"):
        if checkpoint.get(key) != getattr(settings, key):
            raise ValueError(f"--resume: the run in {run_dir} used {key}={checkpoint.get(key)}, "
                             f"not {getattr(settings, key)}: resume with the same settings")
    try:
        for name, module in recipe.parts.items():
            module.load_state_dict(checkpoint["parts"][name])
        for name, opt in recipe.optimizers.items():
            opt.load_state_dict(checkpoint["optimizers"][name])
    except (KeyError, RuntimeError, ValueError) as error:
        raise ValueError(f"--resume: the checkpoint in {run_dir} is not of this model and these options "
                         f"({type(error).__name__}: {' '.join(str(error).split())[:300]}); resume with the command that started "
                         f"the run, or start again in a new --run-dir") from None
    if env.main:
        torch.set_rng_state(checkpoint["rng"].cpu())
    else:
        torch.manual_seed(settings.seed + env.rank + checkpoint["step"])
    return checkpoint


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (or all, for a new run), and a line cut
    short by a kill."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):  # a torn or foreign line
            continue
    atomic_write(path, lambda tmp: tmp.write_text("".join(line + "\n" for line in kept)))


def _save_grid(grid: np.ndarray, path: Path) -> None:
    atomic_write(path, lambda tmp: PIL.Image.fromarray(grid).save(tmp, format="png"))
