"""The app under load, through the HTTP API a browser uses: start-up time, slider -> image latency and
events served per second with concurrent clients, errors, and the server's resident memory.

One slider event = POST /gradio_api/call/decode, read its event stream until `complete`, and decode
the PNG it carries inline: what the page does when a slider moves (gradio_client adds ~60 ms of its
own, so it is not used here).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from explorer.images import PNG_DATA_URL

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resident_mb(pid: int, children: bool = True) -> float:
    """The resident memory (VmRSS, MB) of a process and, with `children`, of every process it started (the
    app's worker), added up."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total = int(line.split()[1]) / 1024
    if children:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    total += resident_mb(int(child))
                except FileNotFoundError:  # it ended meanwhile
                    pass
    return total


class Server:
    """`python app.py` (or another script of the repository) with `args` in a subprocess on a free port, with `env`
    added to the environment; `seconds_to_ready`: until /gradio_api/info answers (under GRADIO_ROOT_PATH, at the
    port itself: the path is the proxy's)."""

    def __init__(self, script: str = "app.py", env: dict | None = None, args: list[str] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "GRADIO_SERVER_PORT": str(self.port), "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        start = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, script, *args], cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{script} exited during start-up")
            try:
                if httpx.get(f"{self.url}/gradio_api/info", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.seconds_to_ready = time.perf_counter() - start

    def close(self):
        self.process.terminate()
        self.process.wait(10)


def random_latent(rng: random.Random) -> str:
    z = [round(rng.uniform(-3, 3), 2) for _ in range(10)] + [0] * 10
    z[10 + rng.randrange(10)] = 1
    return json.dumps(z)


async def call(client: httpx.AsyncClient, url: str, endpoint: str, data: list, session: str) -> list:
    """POST /gradio_api/call/<endpoint> with `data`, in the session `session`, then read its event stream until
    it completes: the outputs. RuntimeError if the event ends otherwise."""
    response = await client.post(f"{url}/gradio_api/call/{endpoint}", json={"data": data, "session_hash": session})
    response.raise_for_status()
    event, answer = None, None
    async with client.stream("GET", f"{url}/gradio_api/call/{endpoint}/{response.json()['event_id']}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                answer = line.split(":", 1)[1].strip()
                break
    if event != "complete":
        raise RuntimeError(f"{endpoint} ended with {event}: {answer}")
    return json.loads(answer)


async def slider_event(client: httpx.AsyncClient, url: str, rng: random.Random, session: str) -> None:
    """One slider move of the page whose session is `session`: call /decode with a random z, read its stream
    until complete, decode the image it carries (a data URL)."""
    picture = (await call(client, url, "decode", ["joint", random_latent(rng)], session))[0]["url"]
    if not picture.startswith(PNG_DATA_URL):
        raise RuntimeError(f"decode sent no inline PNG: {picture[:80]}")
    base64.b64decode(picture.removeprefix(PNG_DATA_URL), validate=True)


async def at_once(clients: int, requests_per_client: int, request, timeout: float = 60) -> dict:
    """`clients` concurrent clients, each its own httpx client and session (`bench-<index>`, as a page is),
    each sending `requests_per_client` requests back to back: `await request(client, index, k, session)`.
    Returns the count of requests answered, errors (and the first three), answers per second, and the p50,
    p95 and mean latency (ms)."""
    latencies, errors = [], []
    limits = httpx.Limits(max_connections=2 * clients, max_keepalive_connections=2 * clients)

    async def one_client(index: int):
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            for k in range(requests_per_client):
                start = time.perf_counter()
                try:
                    await request(client, index, k, f"bench-{index}")
                    latencies.append(time.perf_counter() - start)
                except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as error:
                    errors.append(repr(error))

    start = time.perf_counter()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    seconds = time.perf_counter() - start
    ordered = sorted(latencies)
    quantile = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")  # noqa: E731
    return {"clients": clients, "answered": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "per_second": len(latencies) / seconds, "p50_ms": quantile(0.5), "p95_ms": quantile(0.95),
            "mean_ms": statistics.fmean(ordered) * 1000 if ordered else float("nan")}


async def load(url: str, clients: int, events_per_client: int, seed: int = 0) -> dict:
    """`clients` concurrent clients, each moving a slider `events_per_client` times back to back, each
    in its own session as a page is (a call without one makes a new session on the server each time)."""
    rngs = [random.Random(seed * 1000 + index) for index in range(clients)]
    result = await at_once(clients, events_per_client, lambda client, index, k, session: slider_event(
        client, url, rngs[index], f"{session}-{seed}"))
    result["events"], result["events_per_second"] = result.pop("answered"), result.pop("per_second")
    return result


def import_floor_seconds() -> float:
    """Seconds for `python -c "import torch, gradio"`: the part of the app's start-up that no code of ours can cut."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, gradio"], cwd=ROOT, check=True)
    return time.perf_counter() - start


def measure_startup(repeats: int = 3) -> dict:
    """The app's start-up (until its API answers) beside the import floor, alternating, `repeats` of each; medians."""
    floors, startups = [], []
    for _ in range(repeats):
        floors.append(import_floor_seconds())
        server = Server()
        startups.append(server.seconds_to_ready)
        server.close()
    return {"startup_seconds": statistics.median(startups), "import_floor_seconds": statistics.median(floors),
            "startup_runs": startups, "import_floor_runs": floors}


def measure_app(concurrency=(1, 8, 32), events: int = 400, soak_events: int = 0) -> dict:
    """Start-up beside its floor (measure_startup), then start the app: slider latency and throughput for
    each number of concurrent clients; with `soak_events`, the resident memory before and after each
    quarter of that many more events with 32 clients."""
    startup = measure_startup()
    server = Server()
    try:
        results = {**startup, "rss_mb_ready": resident_mb(server.process.pid)}
        asyncio.run(load(server.url, 4, 10, seed=99))  # warm-up: caches, first calls
        results["load"] = [asyncio.run(load(server.url, n, max(5, events // n))) for n in concurrency]
        if soak_events:  # in 4 rounds, the resident memory after each: growth that goes on is a leak
            memory, served, errors = [resident_mb(server.process.pid)], 0, 0
            for _ in range(4):
                soak = asyncio.run(load(server.url, 32, soak_events // 128, seed=7))  # the same 32 pages
                served, errors = served + soak["events"], errors + soak["errors"]
                memory.append(resident_mb(server.process.pid))
            results["soak"] = {"events": served, "errors": errors, "rss_mb": memory}
            pages = [resident_mb(server.process.pid)]  # pages that come and go: 8 x 32 new sessions
            for round_ in range(8):
                asyncio.run(load(server.url, 32, 96, seed=100 + round_))
                pages.append(resident_mb(server.process.pid))
            results["new_pages_rss_mb"] = pages
        return results
    finally:
        server.close()
