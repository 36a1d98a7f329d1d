"""The app: every tab (one module each) on one Explorer, with the limits of every request."""

from __future__ import annotations

import os

import gradio as gr
from starlette.middleware import Middleware

from ..explore import Explorer
from ..limits import MAX_UPLOAD_BYTES, QUEUE_EVENTS, SESSION_CAPACITY, BodyLimit
from ..registry import DECODER_CACHE
from .callbacks import Callbacks
from .checks import Blocks
from .components import HEAD, STYLE, WEB_DIR, picture
from .interpolate import interpolate_tab
from .lab import lab_tab
from .models import models_tab
from .reconstruct import reconstruct_tab
from .sliders import decoder_specs, sliders_tab
from .translate import translate_tab
from .worker import Worker

INTRO = """# Colored-MNIST latent explorer
Two sets of three VAEs (continuous, discrete, joint latent): one trained on the study's palette (each digit in
its own color), one on digits in any color, gray and white included (the default: drawings and uploads come
in any color); a VAE with a 2-D latent; any VAE file you name (`python app.py --weights FILE`); and a CycleGAN
between gray and color. Every number shown was measured on the MNIST test set. Images are 28 x 28 pixels, shown
enlarged."""


def launch_options() -> dict:
    """The options `build_app().launch(**launch_options())` takes, in app.py and in the tests: the CSS, the
    sessions kept, the limits of every request (explorer/limits.py: the upload limit, which gradio answers
    with HTTP 413 and "File size exceeded maximum allowed size of 10485760 bytes.", and BodyLimit for the
    other routes), the page's decoder (its scripts in the head, its folder and the decoders exported for other files
    served)."""
    return {"css": STYLE, "state_session_capacity": SESSION_CAPACITY, "max_file_size": MAX_UPLOAD_BYTES, "head": HEAD,
            "allowed_paths": [str(WEB_DIR), str(DECODER_CACHE)], "app_kwargs": {"middleware": [Middleware(BodyLimit)]}}



def build_app(explorer: Explorer | None = None, start_worker: bool = False) -> gr.Blocks:
    """The explorer's Gradio Blocks: launch with `.launch(**launch_options())`. Reading pictures and
    reconstructing run in a Worker process, started now with `start_worker` (app.py), else at the first
    picture. The files that could not be used are named at the top, each with its reason."""
    explorer = explorer or Explorer()
    worker = Worker(explorer)
    if start_worker:
        worker.start()
    callbacks = Callbacks(explorer, worker)
    explorer.page_decoders()  # exported now: a decoder that does not export is named in the banner
    # gradio's queue keeps a record of its last 10,000 events and rebuilds a pandas summary of them
    # after every event unless told otherwise: keep 1,000 (memory) and summarise once per 1,000 events
    # (measured: 10 -> 9.7 ms per slider event, +20% events/s with 32 clients)
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
    # delete_cache: files the app served (the images) are removed after 10 minutes, every 10 minutes
    with Blocks(title="Colored-MNIST latent explorer", delete_cache=(600, 600)) as app:
        gr.Markdown(INTRO)
        if explorer.problems:
            gr.Markdown("**Some files are not loaded; the rest of the app works.**\n\n"
                        + "\n".join(f"- {message}" for message in explorer.problems.values()), elem_id="problems")
        # The sliders tab's server path (/decode): the last z the page asked the server to decode, and its
        # picture. Hidden, and outside the tabs, so that they are rendered (and hold their values) at once.
        sent = gr.Textbox(label="z", visible="hidden")
        decoded = picture("Decoded image (the server's)", visible="hidden", elem_id="decoded")
        decoder_specs(explorer)
        with gr.Tabs():
            reconstruct_tab(app, callbacks)
            interpolate_tab(app, callbacks)
            sliders_tab(app, callbacks, sent, decoded)
            translate_tab(app, callbacks)
            lab_tab()
            models_tab(app, callbacks)
    # Slider events (decode, scrub) run with no concurrency limit, the rest 4 at a time; queue status
    # is sent every 5 s rather than to every waiting client after every event; at most QUEUE_EVENTS wait.
    return app.queue(default_concurrency_limit=4, status_update_rate=5, max_size=QUEUE_EVENTS)
