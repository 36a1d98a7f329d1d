"""Users moving sliders in real pages: `users` pages of the app in headless Chromium (each its own browser
context, as separate people are), every page moving the first slider of the sliders tab `moves` times as
a drag does (input events, 25 ms apart). Reports what the server was sent while the sliders moved (the
page decodes in itself: nothing is expected), and the time from each input event to the new picture
(#decoded-image's data-z changes once the picture is drawn).

measure_lab_pages does the same in the beta Lab tab, once each page holds the family (fetched and decoded): the
beta and training-time sliders in turn, every request to the server counted (its files too).

Needs Playwright and Debian's Chromium (requirements-test.txt; `apt-get install -y chromium`).
"""

from __future__ import annotations

import shutil
import statistics

from .app_load import Server

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"]
WATCH = """() => { window.drawn = []; new MutationObserver(() => window.drawn.push(performance.now()))
    .observe(document.querySelector('#decoded-image'), {attributes: true, attributeFilter: ['data-z']}); }"""
MOVE = """value => { const range = document.querySelector('#slider-0 input[type=range]'); const start = performance.now();
    range.value = String(value); range.dispatchEvent(new Event('input', {bubbles: true})); return start; }"""


LAB_WATCH = """() => { window.drawn = []; new MutationObserver(() => window.drawn.push(performance.now()))
    .observe(document.querySelector('#beta-lab'), {attributes: true, attributeFilter: ['data-shown']}); }"""
LAB_MOVE = """i => { const lab = window.betaLab.state.lab, beta = i % 2 === 0;
    const range = document.querySelector(beta ? '#beta-lab .lab-beta' : '#beta-lab .lab-time');
    const value = (beta ? 1 : 3) * Math.floor(i / 2) % (beta ? lab.family.length : lab.family[0].snapshots.length);
    const start = performance.now(); range.value = String(value);
    range.dispatchEvent(new Event('input', {bubbles: true})); return start; }"""


def measure_pages(users: int = 32, moves: int = 20) -> dict:
    """Open `users` pages, then move each one's slider `moves` times. Returns the number of API requests
    (events, uploads) the pages sent while their sliders moved, and the input-to-picture times (ms)."""
    return _measure(users, moves, "Latent sliders and codes", "document.querySelector('#decoded-image')?.dataset.z",
                    WATCH, lambda i: (MOVE, round(-3 + 6 * i / moves, 2)), api_only=True)


def measure_lab_pages(users: int = 32, moves: int = 20) -> dict:
    """Open `users` pages on the beta Lab, wait until each holds the family (its decoders fetched and run), then
    move each one's beta and training-time sliders in turn, `moves` times. Returns the number of requests
    (any: API or files) the pages sent while the sliders moved, and the input-to-picture times (ms)."""
    return _measure(users, moves, "beta Lab", "document.querySelector('#beta-lab')?.dataset.ready === 'yes'",
                    LAB_WATCH, lambda i: (LAB_MOVE, i), api_only=False)


def _measure(users: int, moves: int, tab: str, ready: str, watch: str, move, api_only: bool) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("the page bench needs Debian's chromium: apt-get install -y chromium")
    server = Server()
    sent, latencies = [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            pages = []
            for _ in range(users):
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.goto(server.url)
                page.get_by_role("tab", name=tab).click()
                pages.append(page)
            for page in pages:
                page.wait_for_function(ready, timeout=300_000)
            for page in pages:
                page.wait_for_timeout(500)  # the page's start-up events are done
                page.on("request", lambda request: sent.append(request.url) if not api_only or (
                        "/gradio_api/" in request.url and "/gradio_api/file=" not in request.url) else None)
                page.evaluate(watch)
                starts = []
                for i in range(moves):
                    starts.append(page.evaluate(*move(i)))
                    page.wait_for_timeout(25)
                page.wait_for_timeout(200)
                drawn = page.evaluate("window.drawn")
                latencies += [min((t for t in drawn if t >= start), default=float("inf")) - start for start in starts]
            browser.close()
    finally:
        server.close()
    ordered = sorted(latencies)
    return {"users": users, "moves": len(latencies), "requests_while_moving": len(sent), "first_requests": sent[:3],
            "redrawn": sum(t != float("inf") for t in ordered), "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}
