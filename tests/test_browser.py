"""A real browser (Debian's Chromium, driven by Playwright) uses every tab of a launched app: it draws a
digit, moves a slider, toggles a code, and checks that the output images change. Screenshots go to
$SCREENSHOT_DIR (default: tests/screenshots/); the README's tour shows them:
`SCREENSHOT_DIR=docs/screenshots python -m pytest tests/test_browser.py` retakes them."""

import json
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import onnxruntime
import pytest
import torch
from playwright.sync_api import expect, sync_playwright

from explorer.explore import Explorer
from explorer.lab import LAB_FILE, read_lab
from explorer.ui import build_app, launch_options
from explorer.ui.callbacks import Callbacks

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).parent / "screenshots"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"]


EXPLORER = Explorer()


@pytest.fixture(scope="module")
def url():
    app = build_app(EXPLORER)
    _, url, _ = app.launch(prevent_thread_lock=True, quiet=True, **launch_options())
    deadline = time.time() + 30
    while httpx.get(f"{url}gradio_api/info").status_code != 200:  # ready only once this answers
        assert time.time() < deadline, "the app did not answer /gradio_api/info"
        time.sleep(0.2)
    yield url
    app.close()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:  # never skipped: .ci/run installs it
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install -y chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def is_api_request(request) -> bool:
    """A request to the app's API (events, uploads), not for one of its static files nor the heartbeat
    stream that every page keeps open while it lives."""
    return "/gradio_api/" in request.url and not any(part in request.url
                                                     for part in ("/gradio_api/file=", "/gradio_api/heartbeat/"))


LAST_API_REQUEST = {}  # page -> when (time.monotonic()) it last sent a request to the app's API


def open_page(browser, url, errors: list, block_wasm: bool = False):
    """A new page of the app (1400 x 1000); JavaScript errors go to `errors`; with `block_wasm`, the
    browser cannot fetch WebAssembly (the in-page decoder then fails to start)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: print(f"console {message.type}: {message.text[:500]}")  # shown if a test fails
            if message.type in ("warning", "error") else None)
    LAST_API_REQUEST[page] = time.monotonic()
    page.on("request", lambda request: LAST_API_REQUEST.update({page: time.monotonic()})
            if is_api_request(request) else None)
    if block_wasm:
        page.route("**/*.wasm", lambda route: route.abort())
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(browser, url):
    errors = []
    page = open_page(browser, url, errors)
    yield page
    page.close()
    assert errors == [], f"JavaScript errors in the page: {errors}"


SHOWN_OR_FAILED = """id => { const block = document.getElementById(id);
    if (block?.querySelector('img')?.getAttribute('src')) return 'shown';
    return block && /(^|\\n)Error(\\n|$)/.test(block.innerText) ? 'failed' : null; }"""


def image_source(page, elem_id: str) -> str:
    """The src of the image shown in the component with this elem_id, once there is one. If the event
    that draws it fails (gradio marks the component "Error"), fails at once with the page's messages."""
    if page.wait_for_function(SHOWN_OR_FAILED, arg=elem_id, timeout=20_000).json_value() == "failed":
        pytest.fail(f"the event that draws #{elem_id} failed; the page's messages: "
                    f"{page.locator('.toast-wrap').all_inner_texts()} (the server's log is below, if it printed one)")
    return page.locator(f"#{elem_id} img").first.get_attribute("src")


def wait_for_new_image(page, elem_id: str, old: str) -> str:
    expect(page.locator(f"#{elem_id} img").first).not_to_have_attribute("src", old, timeout=20_000)
    return image_source(page, elem_id)


# Digits as strokes of the mouse, each a polyline in fractions of the canvas (x, y from its top left)
ONE = [[(0.5, 0.2), (0.53, 0.8)]]
SEVEN = [[(0.3, 0.22), (0.7, 0.22), (0.45, 0.8)]]


def draw(page, sketch_id: str, strokes=ONE) -> None:
    """Draw the strokes on the sketch pad's canvas as a user first would: at once, with its brush as it
    comes (the default color, black, and size; web/sketch.js picks the brush, which gradio leaves unpicked).
    Each segment is 4 mouse moves: the brush draws straight lines between them (20 moves drew the same
    strokes, 6 s slower on 2 cores)."""
    canvas = page.locator(f"#{sketch_id} canvas").first
    expect(canvas).to_be_visible(timeout=20_000)
    expect(page.locator(f"#{sketch_id}").get_by_role("button", name="Brush", exact=True)).to_have_class(re.compile("highlight"))
    box = canvas.bounding_box()
    at = lambda point: (box["x"] + box["width"] * point[0], box["y"] + box["height"] * point[1])  # noqa: E731
    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for start, end in zip(stroke, stroke[1:]):
            for i in range(1, 5):
                page.mouse.move(*at([a + (b - a) * i / 4 for a, b in zip(start, end)]))
        page.mouse.up()


def drawn_digit_gets_its_code(page, digit: str, strokes) -> None:
    """Draw a digit as a user first would (the Draw tab, the brush as it comes: black on white); the joint
    VAE trained on any color reconstructs it and gives it the code of the digit drawn (its likeliest
    code, listed first)."""
    before = image_source(page, "reconstruction-joint-any")  # the default sample's
    page.locator("#reconstruct-input").locator("..").get_by_role("tab", name="Draw").first.click()
    draw(page, "reconstruct-sketch", strokes)  # one stroke: one change of the sketch pad
    wait_for_new_image(page, "reconstruction-joint-any", before)
    expect(page.locator("#description-joint-any")).to_contain_text(f"Code: digit {digit}", timeout=10_000)


def test_reconstruct_a_drawing(page):
    drawn_digit_gets_its_code(page, "1", ONE)
    page.screenshot(path=SCREENSHOTS / "reconstruct.png", full_page=True)


def test_a_seven_drawn_with_the_default_brush_gets_its_code(browser, url):
    errors = []
    page = open_page(browser, url, errors)  # a fresh page: its sketch pad is empty
    drawn_digit_gets_its_code(page, "7", SEVEN)
    page.screenshot(path=SCREENSHOTS / "drawn-7.png", full_page=True)
    # "Clear canvas", then another digit at once: the brush stays picked (gradio drops it; web/sketch.js)
    page.locator("#reconstruct-sketch").get_by_role("button", name="Clear canvas").click()
    drawn_digit_gets_its_code(page, "1", ONE)
    page.close()
    assert errors == []


def decoded_z(page, old: str | None = None) -> str:
    """The z that #decoded-image shows (its data-z), once it shows one other than `old`."""
    page.wait_for_function("old => { const z = document.querySelector('#decoded-image')?.dataset.z;"
                           " return z && z !== old; }", arg=old, timeout=20_000)
    return page.eval_on_selector("#decoded-image", "e => e.dataset.z")


def decoded_pixels(page) -> np.ndarray:
    """The picture #decoded-image shows: uint8 (28, 28, 3), read from its canvas."""
    data = page.eval_on_selector("#decoded-image canvas",
                                 "c => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data)")
    return np.array(data, dtype=np.uint8).reshape(28, 28, 4)[..., :3]


def server_picture(kind: str, z: str, model_set: str = "any") -> np.ndarray:
    """What the server's /decode draws for z: uint8 (28, 28, 3)."""
    return Callbacks(EXPLORER).decode(kind, z, model_set)


def show_model(page, kind: str, model_set: str = "any") -> str:
    """Open the sliders tab with the VAE of a kind and set chosen (show_vae)."""
    return show_vae(page, kind + ("-any" if model_set == "any" else ""))


def show_vae(page, name: str) -> str:
    """Open the sliders tab with a VAE chosen by its name (its option in #slider-model: its summary); the z it
    shows once that VAE drew it (#decoded-image's data-name), the z its controls hold."""
    page.get_by_role("tab", name="Latent sliders and codes").click()
    decoded_z(page)
    choice = page.locator("#slider-model input")
    if not choice.input_value().startswith(f"{name}:"):
        choice.click()
        page.get_by_role("option", name=re.compile(f"^{re.escape(name)}:")).click()
    page.wait_for_function("""name => {  // drawn by that VAE, and the z the controls hold (they were reset)
        const shown = document.querySelector('#decoded-image').dataset, text = document.querySelector('#latent textarea');
        return shown.name === name && text && text.value && JSON.stringify(JSON.parse(shown.z)) === JSON.stringify(JSON.parse(text.value));
    }""", arg=name, timeout=20_000)
    api_requests(page)  # and the page's events are over (the controls re-rendered): a click now is not lost
    return page.eval_on_selector("#decoded-image", "e => e.dataset.z")


def api_requests(page) -> list:
    """A list that collects the page's requests to the app's API, from the moment the page has sent none
    for a second (the events of earlier steps are done), and a quarter of a second from now at least.
    (The waiting counts from the page's last request: in steps of a whole second, as before, it cost 1-2 s
    per step. Whether a request is still open says nothing: the page's event stream may stay open.)"""
    deadline = time.monotonic() + 20
    page.wait_for_timeout(250)  # Playwright delivers the page's request events while it waits
    while time.monotonic() - LAST_API_REQUEST[page] < 1:
        if time.monotonic() > deadline:
            pytest.fail("the page kept sending requests to the app's API for 20 s")
        page.wait_for_timeout(50)
    sent = []
    page.on("request", lambda request: sent.append(request.url) if is_api_request(request) else None)
    return sent


def test_sliders_and_codes_redraw_the_image_in_the_page(page):
    first = show_model(page, "joint")
    sent = api_requests(page)
    page.locator("#slider-0 input[type=range]").fill("2.5")
    after_slider = decoded_z(page, first)
    page.locator("#code-0").get_by_text("3", exact=True).click()
    after_code = decoded_z(page, after_slider)
    expect(page.locator("#slider-0 input[type=range]")).to_have_value("2.5")
    expect(page.locator(".toast-body")).to_have_count(0)  # no error from the server
    assert json.loads(after_code) == json.loads(page.get_by_label("z, as /decode receives it").input_value())
    assert sent == [], f"a slider move or a code toggle asked the server: {sent}"
    page.screenshot(path=SCREENSHOTS / "sliders.png", full_page=True)


def test_a_slider_drag_redraws_within_one_frame(page):
    """60 input events on the first slider, as a drag sends them: each redraws #decoded-image (its data-z
    changes) with no request; p95 from the event to the new picture within one frame at 60 Hz (16 ms)."""
    show_model(page, "joint")
    sent = api_requests(page)
    page.evaluate("""() => { window.drawn = []; new MutationObserver(() => window.drawn.push(performance.now()))
        .observe(document.querySelector('#decoded-image'), {attributes: true, attributeFilter: ['data-z']}); }""")
    starts = []
    for i in range(60):
        starts.append(page.evaluate("""value => { const range = document.querySelector('#slider-0 input[type=range]');
            const start = performance.now(); range.value = String(value);
            range.dispatchEvent(new Event('input', {bubbles: true})); return start; }""", round(-3 + 0.1 * i, 2)))
        page.wait_for_timeout(25)
    page.wait_for_timeout(300)
    drawn = page.evaluate("window.drawn")
    latency = sorted(min(t for t in drawn if t >= start) - start for start in starts)
    p50, p95 = latency[29], latency[56]
    print(f"slider event -> new picture, 60 events: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    assert len(drawn) >= 60 and sent == []
    assert p95 <= 16.0, f"p95 {p95:.1f} ms from the input event to the new picture"


LAB_MOVE = """([selector, value]) => { const range = document.querySelector(selector); const start = performance.now();
    range.value = String(value); range.dispatchEvent(new Event('input', {bubbles: true})); return start; }"""
LAB_PICTURES = """() => Object.fromEntries(['.lab-map', '.lab-grid', '.lab-rd', '.lab-recon'].map(c => [c,
    document.querySelector('#beta-lab ' + c).toDataURL()]))"""


def test_the_beta_lab_redraws_every_move_in_the_page(page):
    """The Lab tab: once its family is decoded, 60 moves of the beta and training-time sliders each redraw the map,
    the grid and the rate-distortion plane (#beta-lab's data-shown names the snapshot drawn) with no request to
    the API; p95 from the input event to the new pictures within one frame at 60 Hz (16 ms)."""
    opened = time.monotonic()
    page.get_by_role("tab", name="beta Lab").click()
    page.wait_for_function("document.querySelector('#beta-lab')?.dataset.shown", timeout=60_000)
    first = time.monotonic() - opened
    page.wait_for_function("document.querySelector('#beta-lab')?.dataset.ready === 'yes'", timeout=120_000)
    print(f"the Lab: first drawn {first:.2f} s after its tab was opened, every snapshot decoded after "
          f"{time.monotonic() - opened:.2f} s")
    family = page.evaluate("window.betaLab.state.lab.family.map(m => m.snapshots.length)")
    sent = api_requests(page)
    page.evaluate("""() => { window.labDrawn = []; new MutationObserver(() => window.labDrawn.push([performance.now(),
        document.querySelector('#beta-lab').dataset.shown])).observe(document.querySelector('#beta-lab'),
        {attributes: true, attributeFilter: ['data-shown']}); }""")
    moves, pictures = [], {}
    for i in range(60):  # beta, then time, then beta ...: every move names another snapshot, every time index comes
        beta, time_index = (i // 2) % len(family), (3 * (i // 2)) % family[0]
        selector, value = (".lab-beta", beta) if i % 2 == 0 else (".lab-time", time_index)
        moves.append(page.evaluate(LAB_MOVE, [f"#beta-lab {selector}", value]))
        shown = page.evaluate("document.querySelector('#beta-lab').dataset.shown")
        assert page.evaluate("document.querySelector('#beta-lab').dataset.pictures") == "yes"
        pictures.setdefault(shown, page.evaluate(LAB_PICTURES))
        page.wait_for_timeout(25)
    page.wait_for_timeout(300)
    drawn = page.evaluate("window.labDrawn")
    latency = sorted(min(t for t, _ in drawn if t >= start) - start for start in moves)
    p50, p95 = latency[29], latency[56]
    print(f"Lab move -> new pictures, 60 moves: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    assert sent == [], f"a Lab slider asked the server: {sent}"
    assert len(pictures) >= 20
    trained = [p for shown, p in pictures.items() if not shown.endswith(":0")]  # step 0: every beta's untrained model
    for figure in (".lab-map", ".lab-grid"):  # each trained snapshot its own picture
        assert len({p[figure] for p in trained}) == len(trained), figure
    assert len({p[".lab-rd"] for p in pictures.values()}) == len(pictures)  # and its own point on the plane
    assert len(trained) < len(pictures)  # step 0 was shown too
    assert p95 <= 16.0, f"p95 {p95:.1f} ms from the input event to the new pictures"
    page.evaluate(LAB_MOVE, ["#beta-lab .lab-time", 0])
    play = page.locator("#beta-lab .lab-play")
    play.click()  # play runs the training time forward, then stops at the last snapshot
    expect(play).to_have_text(re.compile("Pause"))
    expect(play).to_have_text(re.compile("Play"), timeout=15_000)
    expect(page.locator("#beta-lab .lab-time")).to_have_value(str(family[0] - 1))
    page.evaluate(LAB_MOVE, ["#beta-lab .lab-beta", len(family) // 2 + 1])  # beta 10: the region called organised
    page.locator("#beta-lab").screenshot(path=SCREENSHOTS / "lab.png")
    # the grid the page drew is its snapshot's decoder on the grid's codes, as onnxruntime computes it, to 1/255
    lab = read_lab()
    shot = lab["family"][len(family) // 2 + 1]["snapshots"][-1]
    x = onnxruntime.InferenceSession(str(LAB_FILE.parent / shot["decoder"])).run(
        None, {"z": np.array(lab["grid"], dtype=np.float32)})[0]
    n = round(len(lab["grid"]) ** 0.5)
    expected = np.round(x * 255).reshape(n, n, 3, 28, 28).transpose(0, 3, 1, 4, 2).reshape(n * 28, n * 28, 3)
    drawn = np.array(page.evaluate("""() => { const c = document.querySelector('#beta-lab .lab-grid');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""")).reshape(n * 28, n * 28, 4)
    assert np.abs(drawn[..., :3] - expected).max() <= 1


@pytest.mark.parametrize("model_set", ["any", "palette"])
@pytest.mark.parametrize("kind", ["continuous", "discrete", "joint"])
def test_the_page_draws_what_the_server_decodes(page, kind, model_set):
    """Parity: the picture the page draws equals the server's /decode of the same z to 1/255, for each VAE."""
    z = show_model(page, kind, model_set)
    if kind == "discrete":
        page.locator("#code-5 label").filter(has=page.locator("input:not(:checked)")).first.click()  # another category
    else:
        page.locator("#slider-1 input[type=range]").fill("-1.5")
    decoded_z(page, z)
    name, z, pixels = page.eval_on_selector("#decoded-image", """e => [e.dataset.name, e.dataset.z,
        Array.from(e.querySelector('canvas').getContext('2d').getImageData(0, 0, 28, 28).data)]""")  # at one moment
    pixels = np.array(pixels, dtype=np.uint8).reshape(28, 28, 4)[..., :3]
    assert name == kind + ("-any" if model_set == "any" else "") and len(json.loads(z)) == EXPLORER.vae(name).spec.size
    difference = np.abs(pixels.astype(int) - server_picture(kind, z, model_set).astype(int)).max()
    assert difference <= 1, f"{kind}, {model_set}: the page's picture differs from the server's by {difference}/255"


@pytest.mark.parametrize("kind", ["continuous", "discrete", "joint"])
def test_hovering_the_latent_map_decodes_in_the_page(page, kind):
    old = show_model(page, kind)
    expect(page.locator("#slider-map")).to_have_attribute("data-name", f"{kind}-any", timeout=20_000)  # its map is drawn
    sent = api_requests(page)
    plane = page.locator("#slider-map canvas")
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    pictures, zs = [], []
    for fx, fy in ((0.3, 0.35), (0.7, 0.6)):
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        zs.append(decoded_z(page, zs[-1] if zs else old))
        pictures.append(decoded_pixels(page))
    assert zs[0] != zs[1] and np.abs(pictures[0].astype(int) - pictures[1].astype(int)).max() > 10
    assert sent == [], f"hovering the map asked the server: {sent}"
    if EXPLORER.vae(f"{kind}-any").spec.continuous:  # the sliders follow
        expect(page.get_by_label("z, as /decode receives it")).to_have_value(zs[1])


def test_a_clicked_dot_is_named_until_another_z_is_shown(page):
    """A click on the map loads a sample digit's latent and says which; once another z is shown (a draw
    from the prior, even right after the click) or another VAE's map, the caption no longer claims it."""
    show_model(page, "joint")
    expect(page.locator("#slider-map")).to_have_attribute("data-name", "joint-any", timeout=20_000)
    data = EXPLORER.decoder_map("joint-any")
    points = np.array(data["points"])
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    a, b = points[0]  # as the page places it: the points' box with 8% around it, y upwards
    fx, fy = (0.08 + (a - x0) / (x1 - x0)) / 1.16, (0.08 + (y1 - b) / (y1 - y0)) / 1.16
    plane = page.locator("#slider-map canvas")
    caption = page.locator("#slider-map .latent-plane-caption")
    for then in ("prior", "palette set"):
        plane.scroll_into_view_if_needed()
        box = plane.bounding_box()
        page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        expect(caption).to_contain_text("its latent is loaded", timeout=10_000)
        if then == "prior":  # at once, while gradio's events for the sliders the click moved may still come
            seed = int(page.get_by_label("Seed").input_value())
            prior = Callbacks(EXPLORER).random_controls("joint", "any", seed)[-2]
            page.get_by_role("button", name="Random (prior)").click()
            expect(page.locator("#decoded-image")).to_have_attribute("data-z", prior, timeout=10_000)
            expect(page.get_by_label("z, as /decode receives it")).to_have_value(prior)
        else:
            show_model(page, "joint", "palette")
        expect(caption).to_have_text("", timeout=10_000)
    expect(page.locator("#slider-map .latent-plane-legend > span")).to_have_count(10)  # the key, drawn once


# 100 sample digits, 10 of each class, each shown in the page (as a click on the map shows one); then each factor
# slider pushed to +2 from it and back to 0 (the input events of a drag), the pictures read from the canvas; last,
# a factor slider let go (its change event): the z sliders follow, and the latent text holds the z shown.
# Returns [[before, after each push] per digit, the waits that timed out, whether the sliders followed].
PUSH_FACTORS_JS = """async ([name, zs, slots]) => {
    const view = document.querySelector('#decoded-image'), latent = document.querySelector('#latent textarea');
    const pixels = () => Array.from(view.querySelector('canvas').getContext('2d').getImageData(0, 0, 28, 28).data);
    const same = (a, b) => { try { return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b)); } catch (e) { return false; } };
    let timeouts = 0;
    const until = async done => {
        for (let i = 0; i < 2000; i++) { if (done()) return true; await new Promise(r => setTimeout(r, 1)); }
        timeouts++;
        return false;
    };
    const range = slot => document.querySelector(`#factor-${slot} input[type=range]`);
    const push = (slot, value) => {
        range(slot).value = String(value);
        range(slot).dispatchEvent(new Event('input', {bubbles: true}));
    };
    const out = [];
    for (const z of zs) {
        const text = JSON.stringify(z);
        window.latentExplorer.show(name, text);
        await until(() => view.dataset.z === text);
        const row = [pixels()];
        for (const slot of slots) {
            push(slot, 2);
            await until(() => view.dataset.z !== text);
            row.push(pixels());
            push(slot, 0);
            await until(() => view.dataset.z === text);
        }
        out.push(row);
    }
    push(slots[0], 2);
    await until(() => view.dataset.z !== latent.value);
    range(slots[0]).dispatchEvent(new Event('change', {bubbles: true}));
    const followed = await until(() => same(latent.value, view.dataset.z));
    return [out, timeouts, followed];
}"""


@pytest.mark.parametrize("name", ["continuous-any", "continuous"])
def test_the_factor_sliders_move_their_factors(page, name):
    """The thickness, slant and width sliders of each continuous VAE, each pushed to +2 from 100 test digits'
    codes in the page: each move redraws with no request to the server, and on average raises its factor as
    measured on the pictures the page drew (explorer.factors.picture_factors). (The joint VAEs' directions are
    measured by python -m train evaluate, `factor_purity`: the palette one's barely move its digits.)"""
    from explorer.data import in_coloring
    from explorer.factors import FACTORS, picture_factors

    kind, model_set = name.removesuffix("-any"), "any" if name.endswith("-any") else "palette"
    show_model(page, kind, model_set)
    vae = EXPLORER.vae(name)
    factors = list(vae.factor_directions)
    expect(page.locator("#factor-0")).to_contain_text(factors[0], timeout=20_000)
    images, labels = EXPLORER.sample_images[::10], EXPLORER.sample_labels[::10]
    z = EXPLORER.encode(name, in_coloring(images, labels, vae.metadata["training"]["coloring"])).double()
    z[:, :vae.spec.continuous] = (z[:, :vae.spec.continuous].clamp(-4, 4) * 20).round() / 20  # the sliders' step
    wanted = ["thickness", "slant", "width"]
    sent = api_requests(page)
    drawn, timeouts, followed = page.evaluate(PUSH_FACTORS_JS, [name, z.tolist(), [factors.index(f) for f in wanted]])
    assert sent == [] and timeouts == 0, f"a factor slider asked the server ({sent}) or did not redraw ({timeouts})"
    assert followed, "the z sliders did not take the factor slider's z once it was let go"
    pictures = torch.tensor(drawn, dtype=torch.float32).view(100, 4, 28, 28, 4)[..., :3].permute(0, 1, 4, 2, 3) / 255
    before = picture_factors(pictures[:, 0])
    for i, factor in enumerate(wanted):
        after = picture_factors(pictures[:, i + 1])
        change = np.nanmean(after[:, FACTORS.index(factor) - 1] - before[:, FACTORS.index(factor) - 1])
        print(f"{name}: +2 on {factor} changes it by {change:+.3f} on average")
        assert change > 0, f"{name}: the {factor} slider at +2 changed the {factor} by {change:+.3f} on average"


def test_the_page_falls_back_to_the_server_without_its_decoder(browser, url):
    errors = []
    page = open_page(browser, url, errors, block_wasm=True)
    page.get_by_role("tab", name="Latent sliders and codes").click()
    first = decoded_z(page)
    sent = api_requests(page)
    page.locator("#slider-0 input[type=range]").fill("1.5")
    z = decoded_z(page, first)
    assert np.abs(decoded_pixels(page).astype(int) - server_picture("joint", z).astype(int)).max() <= 1
    assert any("/gradio_api/queue/join" in request for request in sent), "the server was not asked"
    for model_set in ("palette", "any"):  # another set, the same z (the controls reset to 0): redrawn by that set
        z = show_model(page, "joint", model_set)
        assert np.abs(decoded_pixels(page).astype(int) - server_picture("joint", z, model_set).astype(int)).max() <= 1
    page.close()


def test_interpolate(page):
    page.get_by_role("tab", name="Interpolate").click()
    first = image_source(page, "strip")
    page.get_by_role("radio", name="spherical").click()
    spherical = wait_for_new_image(page, "strip", first)
    start_tabs = page.locator("#start-input").locator("..")
    start_tabs.get_by_role("tab", name="Prior").click()  # the start becomes a draw from the prior, at once
    expect(page.locator("#start-input img")).to_have_count(0, timeout=10_000)
    prior = wait_for_new_image(page, "strip", spherical)
    page.get_by_label("Seed of the prior draws").fill("5")  # another draw, without pressing "Interpolate"
    wait_for_new_image(page, "strip", prior)
    page.screenshot(path=SCREENSHOTS / "interpolate.png", full_page=True)
    start_tabs.get_by_role("tab", name="Sample").click()  # the sample again
    expect(page.locator("#start-input img")).to_have_count(1, timeout=10_000)


def test_translate(page):
    page.get_by_role("tab", name="Translate colors").click()
    first = image_source(page, "translated-0")
    page.locator("#translate-input").locator("..").get_by_role("radio", name="random").first.click()
    wait_for_new_image(page, "translated-0", first)
    page.screenshot(path=SCREENSHOTS / "translate.png", full_page=True)
    image_source(page, "translated-4")  # painted in the chosen color
    page.locator("#color button.dialog-button").click()
    typed = page.locator("#color input[type=text]").first
    typed.fill("#808080")  # a gray: refused, and the pictures of the last color cleared
    typed.press("Enter")
    page.mouse.click(5, 5)
    expect(page.get_by_text("is (almost) gray or transparent").first).to_be_visible(timeout=10_000)
    expect(page.locator("#translated-4 img")).to_have_count(0, timeout=10_000)
    expect(page.get_by_text("Not translated: the input was refused")).to_be_visible()
    page.locator(".toast-close").first.click()  # the refusal's toast, closed: the next test's screenshot is of its own tab
    expect(page.locator(".toast-body")).to_have_count(0)


def test_models(page):
    page.get_by_role("tab", name="Models").click()
    expect(page.get_by_role("cell", name="neg_elbo", exact=True).first).to_be_visible(timeout=20_000)  # the metrics table
    expect(page.get_by_label("Symbol legend titled 'curve'").get_by_text("neg_elbo")).to_be_visible()  # the training curve
    expect(page.locator("#latent-map canvas, #latent-map svg").first).to_be_visible(timeout=20_000)
    page.screenshot(path=SCREENSHOTS / "models.png", full_page=True)
    page.get_by_label("Model").last.click()  # each plot redrawn for the model chosen (it kept the first model's chart)
    page.get_by_role("option", name="cyclegan-hue", exact=True).click()
    expect(page.get_by_label("Symbol legend titled 'curve'").get_by_text("d_gray", exact=True)).to_be_visible(timeout=20_000)
    expect(page.get_by_text("cyclegan-hue: none (no continuous latent)")).to_be_visible()
    expect(page.locator("#rate-distortion canvas, #rate-distortion svg").first).to_be_visible(timeout=20_000)


def test_the_2d_vae_maps_its_own_plane(page):
    """The 2-D VAE's map is its latent plane: hovering a point decodes exactly that point (z = its coordinates, no
    projection), in the page, and the sliders show them; its traversal is the manifold grid."""
    show_vae(page, "2d-any")
    expect(page.locator("#slider-map")).to_have_attribute("data-name", "2d-any", timeout=20_000)
    expect(page.locator("#slider-2")).to_be_hidden()  # two sliders, no more
    sent = api_requests(page)
    points = np.array(EXPLORER.decoder_map("2d-any")["points"])
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    plane = page.locator("#slider-map canvas")
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    for fx, fy in ((0.3, 0.35), (0.7, 0.6)):
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        a = x0 - 0.08 * (x1 - x0) + fx * 1.16 * (x1 - x0)  # the page's box: the points' with 8% around, y upwards
        b = y1 + 0.08 * (y1 - y0) - fy * 1.16 * (y1 - y0)
        page.wait_for_function("ab => { const z = document.querySelector('#decoded-image').dataset.z;"
                               " return z && Math.abs(JSON.parse(z)[0] - ab[0]) < 0.05 && Math.abs(JSON.parse(z)[1] - ab[1]) < 0.05; }",
                               arg=[a, b], timeout=20_000)
        z = json.loads(page.eval_on_selector("#decoded-image", "e => e.dataset.z"))
        assert np.abs(decoded_pixels(page).astype(int) - Callbacks(EXPLORER).decode(None, json.dumps(z), None, "2d-any")
                      .astype(int)).max() <= 1
        sliders = [float(page.locator(f"#slider-{i} input[type=range]").input_value()) for i in range(2)]
        assert sliders == pytest.approx([round(z[d] / 0.05) * 0.05 for d in EXPLORER.vae("2d-any").order], abs=1e-6)
    assert sent == [], f"hovering the map asked the server: {sent}"
    page.get_by_role("button", name="Traversal grid").click()
    expect(page.get_by_text("Kingma & Welling's manifold")).to_be_visible(timeout=20_000)
    page.screenshot(path=SCREENSHOTS / "plane.png", full_page=True)


def test_a_users_vae_file_is_explored_in_every_tab(browser, user_vae, tmp_path):
    """`python app.py --weights` a file of a layout of one's own (3 continuous, 2 x 10 categorical), a damaged
    file and a CycleGAN's: the last two are named in the banner with their reason; the user's VAE is listed, its
    3 sliders and 2 code rows drive the picture in the page with parity to the server's decode, its map and
    traversal draw, Reconstruct, Interpolate and Models use it."""
    from bench.app_load import Server

    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(user_vae.read_bytes()[:5000])
    cyclegan = Path(__file__).resolve().parent.parent / "weights" / "cyclegan.safetensors"
    server = Server(args=["--weights", str(user_vae), str(damaged), str(cyclegan)])
    explorer = Explorer(named=[user_vae])
    errors = []
    page = open_page(browser, server.url, errors)
    try:
        banner = page.locator("#problems")
        expect(banner).to_contain_text(f"{damaged} is not a readable safetensors file", timeout=30_000)
        expect(banner).to_contain_text(f"{cyclegan} is a cyclegan weights file, not a VAE")
        image_source(page, "reconstruction-my-vae")  # Reconstruct
        first = show_vae(page, "my-vae")
        for i in range(3):
            expect(page.locator(f"#slider-{i}")).to_be_visible()
        expect(page.locator("#slider-3")).to_be_hidden()
        expect(page.locator("#code-1")).to_be_visible()
        expect(page.locator("#code-2")).to_be_hidden()
        expect(page.locator("#slider-map")).to_have_attribute("data-name", "my-vae", timeout=20_000)
        sent = api_requests(page)
        page.locator("#slider-2 input[type=range]").fill("1.5")
        moved = decoded_z(page, first)
        page.locator("#code-1 label").filter(has=page.locator("input:not(:checked)")).first.click()
        toggled = decoded_z(page, moved)
        assert sent == [], f"a slider or a code of the user's VAE asked the server: {sent}"
        name, z, pixels = page.eval_on_selector("#decoded-image", """e => [e.dataset.name, e.dataset.z,
            Array.from(e.querySelector('canvas').getContext('2d').getImageData(0, 0, 28, 28).data)]""")
        pixels = np.array(pixels, dtype=np.uint8).reshape(28, 28, 4)[..., :3]
        assert name == "my-vae" and len(json.loads(z)) == 23 and json.loads(z) != json.loads(first)
        server_picture = Callbacks(explorer).decode(None, z, None, "my-vae")
        assert np.abs(pixels.astype(int) - server_picture.astype(int)).max() <= 1
        assert toggled == z
        page.get_by_role("button", name="Traversal grid").click()
        expect(page.get_by_text("Rows: each code of the variable matched to the digits")).to_be_visible(timeout=20_000)
        page.get_by_role("tab", name="Interpolate").click()
        before = image_source(page, "strip")
        page.locator("#interpolate-model input").click()
        page.get_by_role("option", name=re.compile("^my-vae:")).click()
        wait_for_new_image(page, "strip", before)
        page.get_by_role("tab", name="Models").click()
        page.get_by_label("Model").last.click()
        page.get_by_role("option", name="vae-my-vae", exact=True).click()
        expect(page.get_by_role("heading", name="vae-my-vae")).to_be_visible(timeout=20_000)  # its card
        expect(page.get_by_role("tabpanel").get_by_text("my-vae: 3 continuous + 2 x 10 categorical; palette")).to_be_visible()
    finally:
        page.close()
        server.close()
    assert errors == [], f"JavaScript errors in the page: {errors}"
