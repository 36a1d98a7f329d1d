"""The app behind a real reverse proxy on a sub-path: Debian's nginx (installed by .ci/run) serves
http://127.0.0.1:<port>/vae/ from `python app.py` with GRADIO_ROOT_PATH=/vae, with the block of docs/app.md's
hosting guide. A real browser loads the page through it: the page's decoder runs, a slider redraws in the
page, every request it sends stays under /vae/ and none fails; gradio_client calls the API through it; the
proxy passes an upload of the app's largest size."""

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import sync_playwright

from bench.app_load import Server, free_port
from explorer.limits import MAX_UPLOAD_BYTES
from .conftest import ROOT

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"]


def nginx_block(app_port: int) -> str:
    """docs/app.md's location block (the hosting guide), for an app on `app_port`."""
    guide = (ROOT / "docs" / "app.md").read_text()
    block = re.search(r"```nginx\n(location /vae/ \{.*?\n\})\n```", guide, re.S)
    assert block, "docs/app.md's hosting guide has no nginx block for /vae/"
    return block.group(1).replace("127.0.0.1:7860", f"127.0.0.1:{app_port}")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """The app under /vae/ behind nginx; yields the page's URL."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():  # never skipped: .ci/run installs it
        pytest.fail("Debian's nginx is needed for the proxy test: apt-get install -y nginx")
    server = Server(env={"GRADIO_ROOT_PATH": "/vae"})
    folder = tmp_path_factory.mktemp("nginx")
    port = free_port()
    # as root (CI), the workers stay root to write the large bodies they buffer into this folder (their
    # default user, nobody, cannot enter pytest's); as anyone else nginx ignores the line
    (folder / "nginx.conf").write_text(f"""
user root;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    server {{
        listen 127.0.0.1:{port};
        {nginx_block(server.port)}
    }}
}}
""")
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}/vae/"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"{url}gradio_api/info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (folder / "error.log").read_text()
            assert time.time() < deadline, "nginx did not answer"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        server.close()


def test_the_page_decodes_behind_the_proxy(proxy):
    chromium = shutil.which("chromium")
    if chromium is None:  # never skipped: .ci/run installs it
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install -y chromium")
    requests, failures, errors = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda request: requests.append(request.url))
        page.on("response", lambda response: failures.append(f"{response.status} {response.url}")
                if response.status >= 400 else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(proxy)
        page.get_by_role("tab", name="Latent sliders and codes").click()
        page.wait_for_function("document.querySelector('#decoded-image')?.dataset.z", timeout=60_000)
        first = page.evaluate("document.querySelector('#decoded-image').dataset.z")
        api_calls = lambda: len([url for url in requests if "/gradio_api/" in url and "/gradio_api/file=" not in url  # noqa: E731
                                 and "/heartbeat/" not in url])
        deadline, api, still = time.monotonic() + 20, api_calls(), time.monotonic()
        while time.monotonic() - still < 1:  # the page's load events are over: no request to the API for a second
            assert time.monotonic() < deadline, "the page kept sending requests to the app's API for 20 s"
            page.wait_for_timeout(100)
            if api_calls() != api:
                api, still = api_calls(), time.monotonic()
        page.evaluate("""() => { const range = document.querySelector('#slider-0 input[type=range]');
            range.value = '2'; range.dispatchEvent(new Event('input', {bubbles: true})); }""")
        page.wait_for_function("z => document.querySelector('#decoded-image').dataset.z !== z", arg=first, timeout=10_000)
        page.wait_for_timeout(300)
        after = api_calls()
        browser.close()
    origin = proxy.removesuffix("vae/")
    assert all(url.startswith(proxy) for url in requests if url.startswith(origin)), \
        [url for url in requests if url.startswith(origin) and not url.startswith(proxy)][:3]
    assert any("/vae/gradio_api/file=" in url and url.endswith(".onnx") for url in requests)  # the page's decoder
    assert after == api  # the slider redrew in the page: no request to the server
    assert failures == [] and errors == []


def test_the_api_answers_behind_the_proxy(proxy):
    client = Client(proxy, verbose=False)
    picture = client.predict("joint", "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]", api_name="/decode")
    assert Path(picture).stat().st_size > 0
    too_large = httpx.post(f"{proxy}gradio_api/call/decode", content=b"x" * (300 * 1024),
                           headers={"content-type": "application/json"})
    assert too_large.status_code == 413 and "too large" in too_large.json()["detail"]  # the app's answer, through it
    largest = httpx.post(f"{proxy}gradio_api/upload", files={"files": ("photo.bin", b"\0" * (MAX_UPLOAD_BYTES - 4096))}, timeout=60)
    assert largest.status_code == 200  # the proxy's own body limit lets the app's largest upload through
