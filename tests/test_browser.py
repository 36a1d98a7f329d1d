"""A real browser (Debian's Chromium, driven by Playwright) uses every tab of a launched app: it draws a
digit, moves a slider, toggles a code, and checks that the output images change. Screenshots go to
$SCREENSHOT_DIR (default: tests/screenshots/); the README's tour shows them:
`SCREENSHOT_DIR=docs/screenshots python -m pytest tests/test_browser.py` retakes them."""

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from explorer.ui import build_app, launch_options

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(__file__).parent / "screenshots"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"]


@pytest.fixture(scope="module")
def url():
    app = build_app()
    _, url, _ = app.launch(prevent_thread_lock=True, quiet=True, **launch_options())
    deadline = time.time() + 30
    while httpx.get(f"{url}gradio_api/info").status_code != 200:  # ready only once this answers
        assert time.time() < deadline, "the app did not answer /gradio_api/info"
        time.sleep(0.2)
    yield url
    app.close()


@pytest.fixture(scope="module")
def page(url):
    chromium = shutil.which("chromium")
    if chromium is None:  # never skipped: .ci/run installs it
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install -y chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        yield page
        browser.close()
        assert errors == [], f"JavaScript errors in the page: {errors}"


def image_source(page, elem_id: str) -> str:
    """The src of the image shown in the component with this elem_id, once there is one."""
    image = page.locator(f"#{elem_id} img").first
    expect(image).to_have_attribute("src", re.compile(".+"), timeout=20_000)
    return image.get_attribute("src")


def wait_for_new_image(page, elem_id: str, old: str) -> str:
    expect(page.locator(f"#{elem_id} img").first).not_to_have_attribute("src", old, timeout=20_000)
    return image_source(page, elem_id)


def draw_a_one(page, sketch_id: str) -> None:
    """A vertical stroke across the middle of the sketch pad's canvas."""
    canvas = page.locator(f"#{sketch_id} canvas").first
    expect(canvas).to_be_visible(timeout=20_000)
    page.locator(f"#{sketch_id}").get_by_role("button", name="Brush").click()
    page.keyboard.press("Escape")  # close the brush's color and size menu
    box = canvas.bounding_box()
    x, top, bottom = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2, box["y"] + box["height"] * 0.8
    page.mouse.move(x, top)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x + i * 0.3, top + (bottom - top) * i / 20)
    page.mouse.up()


def test_reconstruct_a_drawing(page):
    before = image_source(page, "reconstruction-joint")
    page.locator("#reconstruct-input").locator("..").get_by_role("tab", name="Draw").first.click()
    draw_a_one(page, "reconstruct-sketch")
    wait_for_new_image(page, "reconstruction-joint", before)
    page.screenshot(path=SCREENSHOTS / "reconstruct.png", full_page=True)


def test_sliders_and_codes_redraw_the_image(page):
    page.get_by_role("tab", name="Latent sliders and codes").click()
    first = image_source(page, "decoded")
    page.locator("#slider-0 input[type=range]").fill("2.5")
    after_slider = wait_for_new_image(page, "decoded", first)
    page.locator("#code-0").get_by_text("3", exact=True).click()
    wait_for_new_image(page, "decoded", after_slider)
    page.screenshot(path=SCREENSHOTS / "sliders.png", full_page=True)


def test_interpolate(page):
    page.get_by_role("tab", name="Interpolate").click()
    first = image_source(page, "strip")
    page.get_by_role("radio", name="spherical").click()
    wait_for_new_image(page, "strip", first)
    page.screenshot(path=SCREENSHOTS / "interpolate.png", full_page=True)


def test_translate(page):
    page.get_by_role("tab", name="Translate colors").click()
    first = image_source(page, "translated-0")
    page.locator("#translate-input").locator("..").get_by_role("radio", name="random").first.click()
    wait_for_new_image(page, "translated-0", first)
    page.screenshot(path=SCREENSHOTS / "translate.png", full_page=True)


def test_models(page):
    page.get_by_role("tab", name="Models").click()
    expect(page.get_by_role("cell", name="neg_elbo", exact=True)).to_be_visible(timeout=20_000)  # the metrics table
    expect(page.get_by_label("Symbol legend titled 'curve'").get_by_text("neg_elbo")).to_be_visible()  # the training curve
    expect(page.locator("#latent-map canvas, #latent-map svg").first).to_be_visible(timeout=20_000)
    page.screenshot(path=SCREENSHOTS / "models.png", full_page=True)
