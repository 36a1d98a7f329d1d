"""Training throughput: each model's training step as `python -m train` runs it (`--precision auto`, or the
one asked for), beside the plain fp32 eager loop of the same model (NCHW). Each variant runs in its own
worker process, the first with `train.engine.keep_freed_memory` as the training CLI sets it, the plain one
with glibc's malloc as it comes; the parent alternates their rounds, so both see the same machine."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from pathlib import Path

import torch

from explorer import load_sample_pack
from explorer.classifier import ClassifierConfig
from explorer.cyclegan import CycleGANConfig
from explorer.data import ColoredMNIST, UnpairedDomains
from explorer.vae import PRESETS
from train.__main__ import vae_recipe, vae_training_set
from train.engine import Settings, choose_precision, default_device, keep_freed_memory, run_step, set_memory_format
from train.recipes import ClassifierRecipe, CycleGANRecipe, VAERecipe

MODELS = ["classifier", *(f"vae-{kind}" for kind in PRESETS), "vae-joint-any", "cyclegan", "cyclegan-hue"]


def training_model(name: str, device: torch.device):
    """(make the recipe, one training batch as the CLI's data set gives it, images per step)."""
    images, labels = load_sample_pack()
    if name == "classifier":
        batch = ColoredMNIST.mixture(images, labels)[torch.arange(256)]
        return lambda: ClassifierRecipe(device, ClassifierConfig()), batch, 256
    if name.startswith("vae-"):
        kind, coloring = (name.removeprefix("vae-").removesuffix("-any"), "any" if name.endswith("-any") else "digit")
        recipe = vae_recipe(kind, coloring)
        batch = vae_training_set(images, labels, coloring, recipe.objective)[torch.arange(256) % len(labels)]
        return lambda: VAERecipe(device, recipe.config, recipe.objective, batch[0][:10]), batch, 256
    batch = UnpairedDomains(images, labels)[torch.arange(32)]
    return lambda: CycleGANRecipe(device, CycleGANConfig(hue_conditioned=name == "cyclegan-hue"), batch), batch, 32


_recipes: dict[str, tuple] = {}  # a worker's recipes, built on their first round


def _start_worker(fast: bool) -> None:
    if fast:
        keep_freed_memory()


def variant_settings(precision: str | None) -> Settings:
    """The training CLI's settings for --precision `precision`, or the plain fp32 loop for None."""
    if precision is None:
        return Settings(Path("."), 1, 0)
    chosen = choose_precision(precision, default_device())
    return Settings(Path("."), 1, 0, bf16=chosen.bf16, channels_last=chosen.channels_last)


def training_round(name: str, precision: str | None, steps: int) -> float:
    """Images per second of `steps` training steps of one model (in a worker process) at --precision
    `precision`, or in the plain fp32 loop for None."""
    device = default_device()
    settings = variant_settings(precision)
    if name not in _recipes:
        make_recipe, batch, images_per_step = training_model(name, device)
        torch.manual_seed(0)
        recipe = make_recipe()
        set_memory_format(recipe, settings)
        batch = tuple(t.to(device) for t in batch)
        for step in range(min(3, steps)):  # warm-up: as many steps as a round, at most 3
            run_step(recipe, batch, step, 1000, settings)
        _recipes[name] = recipe, batch, images_per_step
    recipe, batch, images_per_step = _recipes[name]
    start = time.perf_counter()
    for step in range(steps):
        run_step(recipe, batch, 10 + step, 1000, settings)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * images_per_step / (time.perf_counter() - start)


def measure_training(steps: int = 10, repeats: int = 5, precision: str = "auto", models: list[str] = MODELS) -> dict:
    """Images per second of the training step of each of `models` (names in MODELS) at `precision` and in
    the plain fp32 loop, `repeats` rounds of `steps` steps, the two's rounds alternating; the median round
    counts (5 rounds, not 3 as before 2026-12-01: a CycleGAN's margin over the plain loop on an AVX2 CPU,
    about 1.1x, is smaller than one round's noise there). Each model's entry also names the precision and
    layout that `precision` chose here, and keeps every round (images per second)."""
    context = multiprocessing.get_context("spawn")
    variants = (precision, None)
    chosen = choose_precision(precision, default_device()).name
    with context.Pool(1, _start_worker, (True,)) as fast, context.Pool(1, _start_worker, (False,)) as plain:
        results = {}
        for name in models:
            rounds = {variant: [] for variant in variants}
            for _ in range(repeats):
                for variant, worker in zip(variants, (fast, plain)):
                    rounds[variant].append(worker.apply(training_round, (name, variant, steps)))
            fast_rate, plain_rate = (statistics.median(rounds[v]) for v in variants)
            results[name] = {"precision": chosen,
                             "images_per_second": fast_rate, "fp32_images_per_second": plain_rate,
                             "ratio": fast_rate / plain_rate,
                             "rounds": rounds[precision], "fp32_rounds": rounds[None]}
    return results
