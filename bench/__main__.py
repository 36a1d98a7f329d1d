"""python -m bench: training throughput (with the plain fp32 loop beside it), inference latency, and the
app under load through the HTTP API a browser uses. Prints a table and writes a JSON file.

    python -m bench                       # everything (about 4 minutes here)
    python -m bench --only app --soak 10000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from explorer import load_model, load_sample_pack
from explorer.cyclegan import CycleGANConfig
from explorer.data import UnpairedDomains
from explorer.vae import PRESETS
from train.__main__ import VAE_OBJECTIVES, vae_training_set
from train.engine import Settings, run_step, set_memory_format
from train.recipes import CycleGANRecipe, VAERecipe

from .app_load import measure_app

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"bf16 + channels_last": Settings(Path("."), 1, 0, bf16=True, channels_last=True),
            "plain fp32": Settings(Path("."), 1, 0)}


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_models(device):
    """name -> (make the recipe, one training batch as the CLI's data set gives it, images per step)."""
    images, labels = load_sample_pack()
    models = {}
    for kind in PRESETS:
        vae_batch = vae_training_set(images, labels, "digit", VAE_OBJECTIVES[kind])[torch.arange(256) % len(labels)]
        models[f"vae-{kind}"] = (lambda kind=kind, preview=vae_batch[0][:10]:
                                 VAERecipe(device, PRESETS[kind], VAE_OBJECTIVES[kind], preview), vae_batch, 256)
    domains = UnpairedDomains(images, labels)
    gan_batch = domains[torch.arange(32)]
    for name, hue in (("cyclegan", False), ("cyclegan-hue", True)):
        models[name] = (lambda hue=hue: CycleGANRecipe(device, CycleGANConfig(hue_conditioned=hue), gan_batch),
                        gan_batch, 32)
    return models


def measure_training(steps: int = 10, repeats: int = 3) -> dict:
    """Images per second of each model's training step, each variant measured in turn, `repeats`
    rounds interleaved; the median round counts."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = {}
    for name, (make_recipe, batch, images_per_step) in training_models(device).items():
        batch = tuple(t.to(device) for t in batch)
        rounds = {variant: [] for variant in VARIANTS}
        recipes = {}
        for variant, settings in VARIANTS.items():
            torch.manual_seed(0)
            recipes[variant] = make_recipe()
            set_memory_format(recipes[variant], settings)
            for step in range(3):  # warm-up
                run_step(recipes[variant], batch, step, 1000, settings)
        for _ in range(repeats):
            for variant, settings in VARIANTS.items():
                def steps_run():
                    for step in range(steps):
                        run_step(recipes[variant], batch, 10 + step, 1000, settings)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                rounds[variant].append(steps * images_per_step / median_seconds(steps_run, 1))
        fast, plain = (statistics.median(rounds[v]) for v in VARIANTS)
        results[name] = {"images_per_second": fast, "fp32_images_per_second": plain, "ratio": fast / plain}
    return results


@torch.inference_mode()
def measure_inference(repeats: int = 200) -> dict:
    """Latency of what the app computes per event, on the shipped weights (one thread per request)."""
    vae = load_model(ROOT / "weights" / "vae-joint.safetensors")
    gan = load_model(ROOT / "weights" / "cyclegan.safetensors")
    z1, z64 = vae.prior_sample(1), vae.prior_sample(64)
    x = torch.rand(1, 3, 28, 28)
    cases = {"decode 1 image": lambda: vae.decode(z1), "decode 64 images": lambda: vae.decode(z64),
             "translate 1 image": lambda: gan.to_color(x)}
    return {name: median_seconds(case, repeats) * 1000 for name, case in cases.items()}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def print_table(results: dict) -> None:
    print(f"\n{results['machine']}")
    if "training" in results:
        print(f"\n{'training step':<16} {'bf16+CL img/s':>14} {'fp32 img/s':>11} {'ratio':>6}")
        for name, r in results["training"].items():
            print(f"{name:<16} {r['images_per_second']:>14.0f} {r['fp32_images_per_second']:>11.0f} {r['ratio']:>5.2f}x")
    if "inference" in results:
        print(f"\n{'inference (median)':<20} {'ms':>8}")
        for name, ms in results["inference"].items():
            print(f"{name:<20} {ms:>8.2f}")
    if "app" in results:
        app = results["app"]
        print(f"\napp start-up {app['startup_seconds']:.1f} s, resident memory {app['rss_mb_ready']:.0f} MB")
        print(f"{'clients':>7} {'events':>7} {'errors':>6} {'events/s':>9} {'p50 ms':>7} {'p95 ms':>7}")
        for r in app["load"]:
            print(f"{r['clients']:>7} {r['events']:>7} {r['errors']:>6} {r['events_per_second']:>9.1f} "
                  f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f}")
        if "soak" in app:
            soak = app["soak"]
            print(f"soak: {soak['events']} events with 32 clients, {soak['errors']} errors, resident memory "
                  f"(MB) before and after each quarter: {' -> '.join(f'{mb:.0f}' for mb in soak['rss_mb'])}")
            print(f"8 x 32 new pages, 3 events each: resident memory (MB) "
                  f"{' -> '.join(f'{mb:.0f}' for mb in app['new_pages_rss_mb'])}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["training", "inference", "app"], action="append",
                        help="run only these sections (repeatable)")
    parser.add_argument("--events", type=int, default=400, help="slider events per concurrency level")
    parser.add_argument("--soak", type=int, default=0, help="then this many events with 32 clients, memory before and after")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args(argv)
    sections = args.only or ["training", "inference", "app"]
    results = {"machine": f"{cpu_name()}, {torch.get_num_threads()} threads, "
                          f"torch {torch.__version__}, {'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}",
               "date": time.strftime("%Y-%m-%d %H:%M")}
    if "training" in sections:
        results["training"] = measure_training()
    if "inference" in sections:
        results["inference"] = measure_inference()
    if "app" in sections:
        results["app"] = measure_app(events=args.events, soak_events=args.soak)
    print_table(results)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
