"""A class drawing at once: `clients` students, each sending `drawings` drawings one after another, through
the HTTP API a page uses: upload the picture (POST /gradio_api/upload), then /reconstruct on it (POST
/gradio_api/call/reconstruct, its event stream read until `complete`). Each drawing is a real test digit
(the sample pack), drawn as a 280 x 280 pad would send it: dark strokes on white, its own PNG. Reports
p50 / p95 of a drawing's time (upload + reconstruct), drawings per second, errors, and the server's
resident memory before and after; one request alone beside it (the median of `alone` drawings sent one
after another).

Beside our app, the same load on gradio's floor (`bench/floor_app.py`): a minimal gradio app with the same
inputs and outputs that returns them precomputed, so what gradio itself costs per request is seen.
"""

from __future__ import annotations

import asyncio
import io
import random
import statistics

import httpx
import PIL.Image

from explorer.data import load_sample_pack

from .app_load import Server, at_once, call, resident_mb

DRAWING_SIDE = 280  # the sketch pad's canvas (explorer/ui/components.py)


def drawings(count: int, seed: int = 0) -> list[bytes]:
    """`count` PNGs of real test digits as a sketch pad's composite: dark strokes on white, 280 x 280."""
    images, _ = load_sample_pack()
    rng = random.Random(seed)
    pictures = []
    for _ in range(count):
        digit = images[rng.randrange(len(images))].numpy()
        picture = PIL.Image.fromarray(255 - digit).resize((DRAWING_SIDE, DRAWING_SIDE), PIL.Image.BILINEAR)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        pictures.append(buffer.getvalue())
    return pictures


async def reconstruct_drawing(client: httpx.AsyncClient, url: str, png: bytes, session: str) -> None:
    """One drawing: upload it, call /reconstruct on the uploaded file, read the stream until it completes."""
    uploaded = await client.post(f"{url}/gradio_api/upload", files={"files": ("drawing.png", png, "image/png")})
    uploaded.raise_for_status()
    picture = {"path": uploaded.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": "drawing.png"}
    outputs = await call(client, url, "reconstruct", [picture], session)
    if len(outputs) != 19 or not (outputs[0] or {}).get("url"):
        raise RuntimeError(f"reconstruct sent {len(outputs)} outputs, the first {str(outputs[0])[:80]}")


async def classroom(url: str, clients: int, drawings_each: int, seed: int = 0) -> dict:
    """`clients` students at once, each reconstructing `drawings_each` drawings back to back in its own session."""
    pngs = drawings(clients * drawings_each, seed)
    result = await at_once(clients, drawings_each, lambda client, index, k, session: reconstruct_drawing(
        client, url, pngs[index * drawings_each + k], f"{session}-class-{seed}"), timeout=120)
    result["drawings"], result["drawings_per_second"] = result.pop("answered"), result.pop("per_second")
    return result


def measure_server(script: str, clients: int, drawings_each: int, alone: int) -> dict:
    """Start `script` as the app, warm it, then one drawing at a time (`alone` of them), then the class."""
    server = Server(script)
    try:
        asyncio.run(classroom(server.url, 2, 2, seed=99))  # warm-up: first calls, caches
        alone_run = [asyncio.run(classroom(server.url, 1, 1, seed=1000 + i))["p50_ms"] for i in range(alone)]
        before = resident_mb(server.process.pid)
        load = asyncio.run(classroom(server.url, clients, drawings_each))
        return {**load, "alone_ms": statistics.median(alone_run), "rss_mb_before": before,
                "rss_mb_after": resident_mb(server.process.pid)}
    finally:
        server.close()


def measure_classroom(clients: int = 30, drawings_each: int = 4, alone: int = 20, rounds: int = 3) -> dict:
    """The class on our app and on gradio's floor (bench/floor_app.py), alternating, `rounds` of each (one
    round varies by more than the difference between the two); each figure is the median of its rounds, and
    every round is kept under "rounds"."""
    runs = {"app": [], "floor": []}
    for _ in range(rounds):
        runs["app"].append(measure_server("app.py", clients, drawings_each, alone))
        runs["floor"].append(measure_server("bench/floor_app.py", clients, drawings_each, alone))
    return {name: {**{key: statistics.median(run[key] for run in each) if isinstance(each[0][key], (int, float)) else each[0][key]
                      for key in each[0]}, "rounds": each}
            for name, each in runs.items()}


def floor_outputs() -> list:
    """What the floor app returns for every drawing: /reconstruct's 19 outputs for one sample digit, computed once."""
    from explorer.explore import Explorer
    from explorer.ui.callbacks import Callbacks

    callbacks = Callbacks(Explorer())
    return callbacks.reconstruct(callbacks.sample(7, 0, "gray"))

