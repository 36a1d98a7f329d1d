"""python -m bench: training throughput (with the plain fp32 loop beside it), inference latency, the
app under load through the HTTP API a browser uses, a class drawing at once (upload + /reconstruct, beside
gradio's floor), and users moving sliders in real pages (headless Chromium): the sliders tab's, and the beta
Lab's. Prints a table and writes a JSON file.

    python -m bench                       # everything (about 7 minutes here, and the Lab's 32 pages about 10 more)
    python -m bench --only app --soak 10000
    python -m bench --only classroom --clients 30 --drawings 4
    python -m bench --only pages --users 32
    python -m bench --only lab --users 32
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import PIL.Image
import torch

from explorer import load_model
from explorer.images import to_model_input
from train.engine import PRECISIONS, machine_capabilities

from .app_load import measure_app
from .classroom import measure_classroom
from .pages import measure_lab_pages, measure_pages
from .training import MODELS, measure_training

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.inference_mode()
def measure_inference(repeats: int = 200, photo_width: int = 7300) -> dict:
    """Latency (ms, medians) of what the app computes per event, on the shipped weights (one thread per
    request), and of reading an upload: a real phone photo (tests/cases) scaled to photo_width x 3/4 of it
    (7300 x 5475: 40 megapixels, the largest accepted) and saved as a JPEG, read by to_model_input (10 repeats)."""
    vae = load_model(ROOT / "weights" / "vae-joint.safetensors")
    gan = load_model(ROOT / "weights" / "cyclegan.safetensors")
    z1, z64 = vae.prior_sample(1), vae.prior_sample(64)
    x = torch.rand(1, 3, 28, 28)
    cases = {"decode 1 image": lambda: vae.decode(z1), "decode 64 images": lambda: vae.decode(z64),
             "translate 1 image": lambda: gan.to_color(x)}
    results = {name: median_seconds(case, repeats) * 1000 for name, case in cases.items()}
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "photo.jpg"
        size = (photo_width, photo_width * 3 // 4)
        PIL.Image.open(ROOT / "tests" / "cases" / "photo_shaded_blue8_speck.jpg").convert("RGB").resize(size).save(photo, quality=90)
        name = f"read a {size[0] * size[1] / 1e6:.0f} MP photo"
        results[name] = median_seconds(lambda: to_model_input(photo), min(repeats, 10)) * 1000
    return results


def print_table(results: dict) -> None:
    machine = results["machine"]
    print(f"\n{machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}; torch's CPU kernels: "
          f"{machine['kernels']}; AVX2 {machine['avx2']}, AVX-512 {machine['avx512']}, AVX512-BF16 "
          f"{machine['avx512_bf16']}, AMX {machine['amx']}; accelerator: {machine['accelerator']}")
    if "training" in results:
        print(f"\n{'training step':<16} {'as trained':<30} {'img/s':>7} {'plain fp32 img/s':>17} {'ratio':>6}  "
              f"rounds, as trained / plain (min-max)")
        for name, r in results["training"].items():
            spread = " / ".join(f"{min(x):.0f}-{max(x):.0f}" for x in (r["rounds"], r["fp32_rounds"]))
            print(f"{name:<16} {r['precision']:<30} {r['images_per_second']:>7.0f} "
                  f"{r['fp32_images_per_second']:>17.0f} {r['ratio']:>5.2f}x  {spread}")
    if "inference" in results:
        print(f"\n{'inference (median)':<20} {'ms':>8}")
        for name, ms in results["inference"].items():
            print(f"{name:<20} {ms:>8.2f}")
    if "app" in results:
        app = results["app"]
        print(f"\napp start-up {app['startup_seconds']:.1f} s (median of 3), `import torch, gradio` "
              f"{app['import_floor_seconds']:.1f} s (median of 3, alternating): {app['startup_seconds'] - app['import_floor_seconds']:.1f} s "
              f"over the floor; resident memory {app['rss_mb_ready']:.0f} MB")
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
    if "classroom" in results:
        print(f"\na class drawing at once (upload + /reconstruct per drawing), and one drawing alone; medians of "
              f"{len(results['classroom']['app']['rounds'])} alternating rounds:")
        print(f"{'server':<8} {'clients':>7} {'drawings':>8} {'errors':>6} {'drawings/s':>10} {'p50 ms':>7} {'p95 ms':>7} "
              f"{'alone ms':>8} {'RSS MB before -> after':>23}")
        for name, r in results["classroom"].items():
            print(f"{name:<8} {r['clients']:>7} {r['drawings']:>8} {r['errors']:>6} {r['drawings_per_second']:>10.1f} "
                  f"{r['p50_ms']:>7.0f} {r['p95_ms']:>7.0f} {r['alone_ms']:>8.1f} "
                  f"{r['rss_mb_before']:>11.0f} -> {r['rss_mb_after']:.0f}")
        app, floor = results["classroom"]["app"], results["classroom"]["floor"]
        rounds = " / ".join(", ".join(f"{r['p95_ms']:.0f}" for r in each["rounds"]) for each in (app, floor))
        print(f"app / floor: p95 {app['p95_ms'] / floor['p95_ms']:.2f}x, alone {app['alone_ms'] / floor['alone_ms']:.2f}x; "
              f"p95 of each round (ms), app / floor: {rounds}")
    if "pages" in results:
        pages = results["pages"]
        print(f"\n{pages['users']} pages moving a slider ({pages['moves']} input events): {pages['redrawn']} redrawn, "
              f"{pages['requests_while_moving']} requests to the server; input event -> new picture "
              f"p50 {pages['p50_ms']:.1f} ms, p95 {pages['p95_ms']:.1f} ms")
    if "lab" in results:
        lab = results["lab"]
        print(f"\n{lab['users']} pages moving the beta Lab's sliders ({lab['moves']} input events, once each page "
              f"held the family): {lab['redrawn']} redrawn, {lab['requests_while_moving']} requests to the server "
              f"(API or files); input event -> new pictures p50 {lab['p50_ms']:.1f} ms, p95 {lab['p95_ms']:.1f} ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["training", "inference", "app", "classroom", "pages", "lab"], action="append",
                        help="run only these sections (repeatable)")
    parser.add_argument("--events", type=int, default=400, help="slider events per concurrency level")
    parser.add_argument("--soak", type=int, default=0, help="then this many events with 32 clients, memory before and after")
    parser.add_argument("--clients", type=int, default=30, help="students drawing at once in the classroom section")
    parser.add_argument("--drawings", type=int, default=4, help="drawings each student sends, one after another")
    parser.add_argument("--users", type=int, default=32, help="pages (simulated users) in the pages and lab sections")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS, help="the training section's models")
    parser.add_argument("--rounds", type=int, default=5, help="the training section's rounds per variant (the median counts)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="the training steps' precision, as python -m train takes it")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args(argv)
    sections = args.only or ["training", "inference", "app", "classroom", "pages", "lab"]
    results = {"machine": {**machine_capabilities(), "threads": torch.get_num_threads(), "torch": torch.__version__},
               "date": time.strftime("%Y-%m-%d %H:%M")}
    if "training" in sections:
        results["training"] = measure_training(repeats=args.rounds, precision=args.precision, models=args.models)
    if "inference" in sections:
        results["inference"] = measure_inference()
    if "app" in sections:
        results["app"] = measure_app(events=args.events, soak_events=args.soak)
    if "classroom" in sections:
        results["classroom"] = measure_classroom(clients=args.clients, drawings_each=args.drawings)
    if "pages" in sections:
        results["pages"] = measure_pages(users=args.users)
    if "lab" in sections:
        results["lab"] = measure_lab_pages(users=args.users)
    print_table(results)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
