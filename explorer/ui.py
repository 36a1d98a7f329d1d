"""The Gradio app: five tabs built on `Explorer` (explorer/explore.py). No model math here.

`Callbacks` holds what each event calls (tested on its own); `build_app` lays out the tabs and wires
the events. The fixed API endpoints: /reconstruct, /interpolate, /decode, /translate. `Worker` runs the
events that read pictures and run the models in a process of their own; `Sketchpad` bounds the sketch pads'
blob route, and `launch_options` the rest of what a request may cost (explorer/limits.py).
"""

from __future__ import annotations

import base64
import colorsys
import functools
import html
import inspect
import json
import math
import multiprocessing
import os
import pickle
import signal
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import PIL.Image
import tinycss2.color4
import torch
from fastapi import HTTPException
from gradio.components.base import server
from gradio.components.image_editor import AcceptBlobs, EditorDataBlobs
from gradio.exceptions import InvalidPathError
from gradio_client import utils as client_utils
from starlette.middleware import Middleware

from .data import COLORINGS
from .factors import UNITS, factor_change
from .explore import (DEFAULT_SET, FACTOR_MI, GRAY_SATURATION, HUE_CORRELATION, INACTIVE_KL, MODEL_SETS, SEEDS, SLIDER_LIMIT, TRAVERSAL_VALUES,
                      VAE_KINDS, Explorer, ExplorerError, check_seed, shown_path, vae_name)
from .images import (PNG_DATA_URL, ImageError, error_picture, far_too_large, grid_picture, not_an_image, png_bytes, save_png,
                     to_model_input, to_picture, write_gif)
from .limits import (BLOB_BYTES, BLOB_ID_LENGTH, BLOB_LAYERS, BLOB_STORE_BYTES, MAX_UPLOAD_BYTES, QUEUE_EVENTS, SESSION_CAPACITY,
                     BodyLimit, BoundedStore)

MAX_SLIDERS = 16  # slider slots for continuous dimensions (the largest shipped VAE has 16)
MAX_CODES = 24  # radio rows for categorical variables (the discrete VAE has 24)
MAX_FACTORS = 6  # factor slider slots (a file's factor_directions: 5 for the shipped VAEs)
ENCODE_DIGIT = 3  # the sample digit under the sliders tab's "Encode a digit", and the discrete VAE's first code
CURVES = ("loss", "neg_elbo", "g_adv", "cycle", "identity", "color", "d_color", "d_gray")  # what a training curve plots
_HUE_ERROR = ("the mean / median / 95th percentile of the angle (degrees, 0-180) between the hue a digit should have "
              "and the hue it got: a VAE's reconstruction against its input in random hues; a CycleGAN's painting "
              "against a hue asked at random (one that cannot be asked scores about 90: chance)")
METRIC_MEANINGS = {  # the Models tab's glossary of the test metrics (train/evaluate.py computes them)
    "neg_elbo": "negative ELBO: reconstruction NLL + KL, nats per image (lower is better)",
    "recon_nll": "the reconstruction's negative log-likelihood (Bernoulli per pixel and channel) from one latent "
                 "sample of the posterior, nats per image",
    "kl_continuous": "KL of the Gaussian posterior from the N(0, I) prior, nats per image",
    "kl_discrete": "KL of the categorical posteriors from the uniform prior, nats per image",
    "recon_bce": "binary cross-entropy of the reconstruction from the posterior's mode, nats per image",
    "recon_mse": "mean squared error per pixel and channel of that reconstruction (pixels in [0, 1])",
    "recon_read_as_label": "the share of test digits whose reconstruction the classifier reads as the digit's label",
    "active_dimensions": f"continuous dimensions with a test KL of at least {INACTIVE_KL} nats (the others carry nothing)",
    "coloring_seeds": "the seeds of the test digits' random colorings",
    "code_variable": "the categorical variable whose categories match the digits best (numbered from 0)",
    "code_accuracy": "the share of test digits whose likeliest category in that variable, matched one to one to "
                     "the digits (Hungarian matching), is the digit's label",
    "toggle_fidelity": "the first 2,000 test digits' latents decoded with each category of that variable in turn: "
                       "the share the classifier reads as the category's digit",
    "same_code_two_hues": "the share of test digits given the same category when painted in two random hues",
    "hue_error_median_degrees": _HUE_ERROR,
    "hue_error_mean_degrees": _HUE_ERROR,
    "hue_error_p95_degrees": _HUE_ERROR,
    "residual_chroma": "gray test digits: the mean chroma (max |R-G|, |G-B|, |R-B|, 0 to 1) of their reconstructions' "
                       "stroke pixels; 0 when they stay gray",
    "tinted_share": "gray test digits: the share whose reconstruction's stroke has a mean chroma above 0.1 (a visible tint)",
    "accuracy_digit": "the share of test digits read right in the palette colors",
    "accuracy_random": "the share of test digits read right in random hues",
    "accuracy_gray": "the share of test digits read right in gray",
    "accuracy_real_gray": "the classifier on the real gray test digits (the translations' reference)",
    "accuracy_real_color": "the classifier on the real test digits in random colors (the translations' reference)",
    "accuracy_to_color": "the share of gray test digits whose translation to color is read as their label",
    "accuracy_to_gray": "the share of colored test digits whose translation to gray is read as their label",
    "to_color_saturation": "the mean saturation of the translations' stroke pixels (0 to 1)",
    "real_color_saturation": "the same for the real colored digits",
    "to_color_hue_entropy": "the entropy (nats) of the translations' hues over 36 bins: 3.58 (log 36) for hues "
                            "spread evenly, 0 for one color",
    "real_color_hue_entropy": "the same for the real colored digits",
    "to_gray_residual_chroma": "the mean chroma of the translations to gray (0 to 1; 0 when truly gray)",
    "cycle_l1_gray": "mean absolute pixel difference (0 to 1) between a gray digit and its cycle, gray -> color -> gray",
    "cycle_l1_color": "the same for color -> gray -> color",
    "identity_l1_color": "mean absolute pixel difference between a colored digit and the gray -> color generator's "
                         "output for it (it should leave it as it is)",
    "identity_l1_gray": "the same for a gray digit and the color -> gray generator",
    "mutual_information": "the factor x latent heatmap: the mutual information of each latent (a continuous "
                          "dimension's posterior mean z, a categorical variable's likeliest category v) with each factor "
                          "of the test digits, divided by the factor's entropy (0: nothing of it, 1: all of it; 20 bins)",
    "mig": "Mutual Information Gap (Chen et al. 2018): for each factor, the gap between the two latents that carry the "
           "most of it, averaged (0 to 1; 1: each factor in one latent alone)",
    "sap": "Separated Attribute Predictability (Kumar et al. 2018): for each factor, the gap between the two latents that "
           "predict it best alone (R² or a linear SVM's accuracy), averaged (0 to 1)",
    "dci_disentanglement": "DCI disentanglement (Eastwood & Williams 2018): how much each latent, weighted by its "
                           "importance, serves one factor only in gradient-boosted trees predicting the factors (0 to 1)",
    "dci_completeness": "DCI completeness: how much each factor is predicted by one latent only (0 to 1)",
    "dci_informativeness": "DCI informativeness: the trees' held-out accuracy (the digit) or R² (the measures), "
                           "averaged over the factors",
    "neg_iwae": "the importance-weighted bound (Burda et al. 2016) on -log p(x), nats per image: tighter than the "
                "negative ELBO (lower is better)",
    "neg_iwae_se": "the standard error of that mean over the digits it was measured on, nats",
    "iwae_gap": "how much tighter than the ELBO the importance-weighted bound is on the same digits and draws, nats",
    "active_units": "continuous dimensions whose posterior mean varies over the test digits by more than 0.01 "
                    "(variance; Burda et al. 2016)",
    "iwae_samples": "K, the posterior draws per digit of the importance-weighted bound",
    "iwae_digits": "the test digits (spread evenly over the set) the importance-weighted bound is averaged over",
    "purity_digits": "the test digits (spread evenly over the set) each factor slider's direction was tried on",
    "factor_bins": "the equal-width bins of each latent and measure for the mutual information (disentanglement_lib's 20)",
    "factor_directions": "the factor sliders: for each factor, the direction of the latent space that a linear fit on "
                         "the test digits' posterior means finds predicts it best, and the fit's R²",
    "factor_purity": "each factor slider tried: the digits moved 2 along its direction, each factor measured on the "
                     "pictures before and after; purity = the factor's own change / the sum of every factor's change "
                     "(in test-set standard deviations; 1: it moves its factor alone)",
    "evaluation_seconds": "the seconds `python -m train evaluate` took for the file",
}
# the factors of a test digit a latent may carry (explorer/factors.py), for the glossary
FACTOR_MEANINGS = {"digit": "its label", "area": "the stroke's area, px²", "length": "the skeleton's length, px",
                   "thickness": "the stroke's mean thickness, px", "slant": "the shear of its second moments, radians "
                   "(positive: the top leans right)", "width": "the width of its slanted box, px",
                   "height": "the height of that box, px", "hue": "the hue of its paint (none for gray or white)",
                   "brightness": "the brightness (HSV value) of its paint"}
COLORING_MEANINGS = {"digit": "the study's palette, a color per digit", "random": "random hues",
                     "gray": "gray (white strokes)", "any": "random hues at random brightness, gray and the palette",
                     "gray | random": "gray digits on one side, digits in random hues on the other (unpaired)",
                     "mixed": "every digit once in each of digit, random and gray"}
STYLE = """
.pixelated .image-container, .pixelated .image-container > button, .pixelated .image-frame { width: 100%; height: 100%; }
.pixelated img { width: 100% !important; height: 100% !important; object-fit: contain; image-rendering: pixelated; }
#decoded-image canvas { width: 100%; max-width: 260px; aspect-ratio: 1; image-rendering: pixelated; display: block; margin: auto; }
canvas.latent-plane { width: 100%; max-width: 360px; aspect-ratio: 1; cursor: crosshair; display: block; margin: auto; }
.latent-plane-legend { display: flex; justify-content: center; gap: 0.6em; font-size: 0.85em; width: 100%; max-width: 360px;
                       margin: 0 auto; padding: 0.2em 0; background: #000; }
.latent-plane-legend > span { color: #eee !important; }
"""
# The page's own decoder (web/, made by `python -m train web`): ONNX Runtime Web and the exported decoders,
# served by the app itself (no CDN), loaded into the page's head.
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
WEB_URL = f"gradio_api/file={WEB_DIR}"
HEAD = (f'<script src="{WEB_URL}/vendor/onnxruntime-web/ort.wasm.min.js"></script>\n'
        f'<script src="{WEB_URL}/explorer.js"></script>\n'
        f'<script src="{WEB_URL}/sketch.js"></script>')  # the sketch pads' brush picked at once
DECODED_HTML = '<canvas width="28" height="28" aria-label="Decoded image"></canvas>'
MAP_HTML = ('<canvas class="latent-plane" width="360" height="360" aria-label="Latent map"></canvas>'
            '<div class="latent-plane-legend" role="group" aria-label="Key: the dots\' colors are the digit classes"></div>'
            '<div class="latent-plane-caption"></div>')
INTRO = """# Colored-MNIST latent explorer
Two sets of three VAEs (continuous, discrete, joint latent): one trained on the study's palette (each digit in
its own color), one on digits in any color, gray and white included (the default: drawings and uploads come
in any color); and a CycleGAN between gray and color. Every number shown was measured on the MNIST test set.
Images are 28 x 28 pixels, shown enlarged."""


def launch_options() -> dict:
    """The options `build_app().launch(**launch_options())` takes, in app.py and in the tests: the CSS, the
    sessions kept, the limits of every request (explorer/limits.py: the upload limit, which gradio answers
    with HTTP 413 and "File size exceeded maximum allowed size of 10485760 bytes.", and BodyLimit for the
    other routes), the page's decoder (its scripts in the head, its folder served)."""
    return {"css": STYLE, "state_session_capacity": SESSION_CAPACITY, "max_file_size": MAX_UPLOAD_BYTES, "head": HEAD,
            "allowed_paths": [str(WEB_DIR)], "app_kwargs": {"middleware": [Middleware(BodyLimit)]}}


class Picture(gr.Image):
    """gr.Image that sends a picture (uint8 array) with the PNG inline, as a data URL: the page shows it
    without a request of its own (a third of the HTTP requests of a slider move). The PNG is also saved
    in gradio's cache, once, atomically, under its content hash, for API clients: gradio_client
    downloads it by its path. (gradio 6.31 would rewrite a cached file in place on every event, and
    30 pages loading the same picture at once read it half-written.)"""

    is_template = True

    def get_block_name(self) -> str:
        return "image"  # the browser shows it with gradio's own Image component

    def cached(self, data: bytes) -> str:
        """The path of a picture's bytes saved in gradio's cache, once, atomically, under their content hash;
        deleted with the app's other files (Blocks' delete_cache)."""
        path = str(save_png(data, Path(self.GRADIO_CACHE) / "pictures"))
        self.temp_files.add(path)
        return path

    def postprocess(self, value):
        if not isinstance(value, np.ndarray):
            return super().postprocess(value)
        png = png_bytes(value)
        path = self.cached(png)
        # No "meta" key: gradio then leaves the URL as it is rather than pointing it at the file.
        return {"path": path, "url": PNG_DATA_URL + base64.b64encode(png).decode(),
                "orig_name": Path(path).name, "mime_type": "image/png"}


class DigitImage(Picture):
    """An input picture, passed on as the uploaded file itself (its path): gradio does not convert it, so
    its alpha, bit depth and EXIF orientation reach to_model_input, the one path for every picture.
    Unreadable uploads (not an image, too large to open) raise a clear gr.Error. (type="filepath",
    image_mode=None where it is made: a subclass's own __init__ keeps gradio from rendering it.)
    A picture that comes back inline (a data URL: the page sends the sample it was shown) is saved like
    Picture's, atomically under its content hash: gradio 6.31 would decode it to `<hash>/image.png`,
    rewritten in place by every event that sends it, and the page's two load events that send the same
    sample (Reconstruct's input and Interpolate's end) read it half-written now and then."""

    def preprocess(self, payload):
        try:
            if payload is not None and payload.url and payload.url.startswith("data:"):
                return self.cached(client_utils.decode_base64_to_binary(payload.url)[0])
            return super().preprocess(payload)
        except PIL.Image.DecompressionBombError:
            raise refusal(far_too_large(getattr(payload, "orig_name", None) or "The picture")) from None
        except (PIL.UnidentifiedImageError, OSError, ValueError):
            raise refusal(not_an_image(getattr(payload, "orig_name", None) or "The file", getattr(payload, "path", None))) from None


class Sketchpad(gr.Sketchpad):
    """gr.Sketchpad whose blob route takes only what the page sends and keeps only so much
    (explorer/limits.py). The page sends a drawing as up to three PNGs (background, layer 0, composite)
    under a random id to `accept_blobs` (POST /gradio_api/component_server), then the change event
    names the id. gradio 6.31 takes any layer index (it grows a list to it), any size, and keeps every
    id until its event comes; here a part other than those three, a layer other than 0, a PNG over
    BLOB_BYTES or an id over BLOB_ID_LENGTH characters gets HTTP 400/413 with a one-line message, and the
    drawings waiting for their event are kept up to BLOB_STORE_BYTES, the oldest dropped first (its
    event then finds no drawing, and the input shown stays as it was)."""

    is_template = True

    @property
    def blob_storage(self) -> BoundedStore:
        return self._bounded_blobs

    @blob_storage.setter
    def blob_storage(self, _):  # gradio's __init__ sets a plain dict (an __init__ of our own would hide
        self._bounded_blobs = BoundedStore(BLOB_STORE_BYTES, _blobs_size)  # its options from the page)

    def get_block_name(self) -> str:
        return "imageeditor"  # the browser shows it with gradio's own editor, as gr.Sketchpad

    def get_block_class(self) -> str:
        return "imageeditor"

    @server
    def accept_blobs(self, data: AcceptBlobs):
        fields, files = data.data, data.files
        kind, index, blob_id = fields.get("type"), fields.get("index"), fields.get("id")
        if kind not in ("background", "layer", "composite"):
            raise HTTPException(400, f"A drawing's part is background, layer or composite, not {str(kind)[:20]!r}.")
        if kind == "layer" and str(index) not in {str(i) for i in range(BLOB_LAYERS)}:
            raise HTTPException(400, f"This sketch pad has {BLOB_LAYERS} layer: layer {str(index)[:20]!r} does not exist.")
        if not isinstance(blob_id, str) or not 0 < len(blob_id) <= BLOB_ID_LENGTH:
            raise HTTPException(400, f"A drawing's id is 1 to {BLOB_ID_LENGTH} characters.")
        if len(files) != 1 or len(files[0][1]) > BLOB_BYTES:
            raise HTTPException(413, f"A drawing's part is one PNG of at most {BLOB_BYTES:,} bytes.")
        with self.blob_storage.lock:  # gradio reads the drawing, adds this part and stores it: the page sends
            super().accept_blobs(data)  # the parts at once, and one must not overwrite another


def _blobs_size(blobs: EditorDataBlobs) -> int:
    """The bytes a drawing waiting for its event holds."""
    return sum(len(part or b"") for part in (blobs.background, blobs.composite, *blobs.layers))


def refusal(message: str) -> gr.Error:
    """The error for an input the app refuses: gradio shows `message` in the page and sends it to API
    clients; the server's log gets no traceback (a refused input is not a fault of the app)."""
    return gr.Error(message, print_exception=False)


def user_errors(function):
    """Turn any error into gr.Error, which the page and the API show as a message (gradio would send
    {"error": null} for others): the library's ExplorerError / ImageError (a refused input) as it is; a
    ValueError, TypeError, KeyError, IndexError or ArithmeticError as an input that could not be used; any
    other as a fault of the app, with its type, its traceback kept in the server's log."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (ExplorerError, ImageError) as error:
            raise refusal(str(error)) from None
        except (ValueError, TypeError, KeyError, IndexError, ArithmeticError) as error:
            raise gr.Error(f"This input could not be used ({type(error).__name__}: {error}).") from None
        except Exception as error:
            raise gr.Error(f"The app failed on this request ({type(error).__name__}: {error}).") from error

    return wrapper


def in_worker(method):
    """A Callbacks method that reads a picture at full size and runs the models: run in the app's worker
    process where the Callbacks has one (build_app's), else here. Below user_errors, so that its errors
    (ImageError, ExplorerError) come back from the worker as they are and become messages here."""

    @functools.wraps(method)
    def wrapper(self, *args):
        if self.worker is not None:
            return self.worker.run(method.__name__, *args)
        return method(self, *args)

    return wrapper


class Worker:
    """The picture-reading and model work of the events (Callbacks' `in_worker` methods) in a process of its
    own, with its own Explorer loaded from the same files: the server's threads share one Python lock (the
    GIL), which that work held for about 20 ms of each drawing, while gradio's own handling needs it too. With
    it, 30 clients drawing at once are served as fast as by a gradio app that returns the same outputs
    precomputed (docs/performance.md). Started at the first call, or by `start` (app.py: at launch).
    A worker that died (killed, out of memory) is started again at the next call; the call that found it
    dead gets ExplorerError."""

    def __init__(self, explorer: Explorer):
        self.places = (str(explorer.weights_dir), str(explorer.sample_pack), os.getpid())
        self._pool, self._lock = None, threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=self.places)
            return self._pool

    def start(self) -> None:
        """Start the process now (it loads the models and exports /reconstruct's graph: about 4 s, in the background)."""
        self._executor().submit(int)

    def run(self, method: str, *args):
        """Callbacks.<method>(*args) in the worker: its result, or its error raised here."""
        pool = self._executor()
        try:
            return pool.submit(_run_in_worker, method, *args).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise ExplorerError("The app's worker process stopped while reading this picture; it is starting "
                                "again: send the picture once more.") from None


_worker_callbacks: Callbacks | None = None  # in the worker process: its own Callbacks (_start_worker)


def _start_worker(weights_dir: str, sample_pack: str, server: int) -> None:
    """The worker process's start: its Callbacks, on one thread, with /reconstruct's graph exported where it
    can be (an export that fails says why at the first /reconstruct, as that event's error); it ignores
    Ctrl-C (the server's to handle) and ends when the server does, however the server ends."""
    global _worker_callbacks
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(server,), daemon=True).start()
    torch.set_num_threads(1)
    _worker_callbacks = Callbacks(Explorer(weights_dir, sample_pack))
    try:
        _worker_callbacks.explorer.reconstruction_session()
    except Exception:  # noqa: BLE001 (a missing classifier, a failed export: reported by the event that needs it)
        pass


def _end_with(server: int) -> None:
    """End this process once the process `server` (its parent, named when it was started) is gone: a server
    killed, or ended by SIGTERM, does not shut its worker down, which would stay, holding 800 MB."""
    while os.getppid() == server:
        time.sleep(1)
    os._exit(0)


def _run_in_worker(method: str, *args):
    """In the worker process: Callbacks.<method> without its user_errors wrapper. Its errors travel as they
    are; one that would not arrive whole (an exception that cannot be unpickled breaks the pool on the server's
    side) travels as a RuntimeError that names it."""
    try:
        return getattr(Callbacks, method).__wrapped__(_worker_callbacks, *args)
    except Exception as error:
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:  # noqa: BLE001 (any failure to travel)
            raise RuntimeError(f"{type(error).__name__}: {error}") from None
        raise


def refused_input(name: str, block, value) -> str | None:
    """Why gradio would refuse `value` for the input component `block` (the function's parameter `name`),
    as a message that says what is accepted; None if it is acceptable as far as its type goes."""
    if isinstance(block, (gr.Slider, gr.Number)):
        whole = block.step == 1 if isinstance(block, gr.Slider) else block.precision == 0
        accepted = ("a whole number" if whole else "a number") + (
            f" from {block.minimum:g} to {block.maximum:g}" if isinstance(block, gr.Slider) else "")
        if value is None:
            return f"{name} is missing: it must be {accepted}."
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                isinstance(block, gr.Slider) and (whole and not float(value).is_integer()  # 2.5 steps were 2
                                                  or not block.minimum <= value <= block.maximum)):
            return f"{name} must be {accepted}, not {value!r}."
    if isinstance(block, (gr.Dropdown, gr.Radio)) and not getattr(block, "allow_custom_value", False):
        choices = [choice for _, choice in block.choices]
        accepted = ", ".join(map(repr, choices))
        if value is None:
            return f"{name} is missing: it must be one of {accepted}."
        if isinstance(value, list) or value not in choices:
            return f"{name} must be one of {accepted}, not {str(value)[:40]!r}."
    if isinstance(block, gr.Image) and value is not None and not (isinstance(value, dict) and isinstance(value.get("path"), str)):
        given = ("a data URL" if str(value).startswith("data:") else "a URL" if str(value).startswith(("http:", "https:"))
                 else "a file reference without an uploaded file" if isinstance(value, dict) else repr(value)[:40])
        return (f"{name} must be a picture uploaded to this app (in Python: gradio_client.handle_file(path)), "
                f"not {given}.")
    return None


class Blocks(gr.Blocks):
    """gr.Blocks whose refused inputs get a message in the page and the API. Gradio checks each input
    before a function runs, and for any error but gr.Error sends {"error": null}: a number that is NaN,
    infinite, text or missing, a file payload that is not an upload (a bare data URL, a path on the
    server, a URL). Those are refused here first, with what is accepted; anything else gradio refuses
    gets its own first line. A call without the last parameters, where they have defaults (a raw HTTP
    call written before `model_set` was added), gets those defaults."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        parameters = list(inspect.signature(block_fn.fn).parameters.values()) if block_fn.fn else []
        names = [parameter.name for parameter in parameters]
        missing = parameters[len(inputs):] if len(block_fn.inputs) == len(parameters) else []
        if missing and all(parameter.default is not parameter.empty for parameter in missing):
            inputs = list(inputs) + [parameter.default for parameter in missing]  # an API call from before they were added
        for i, (block, value) in enumerate(zip(block_fn.inputs, inputs)):
            if state is not None and not block.stateful and block._id in state:
                block = state[block._id]  # as this session's events left it: the scrub slider's range follows the frames
            message = refused_input(names[i] if i < len(names) else block.label or f"input {i}", block, value)
            if message:
                raise refusal(message)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except InvalidPathError as error:
            raise refusal(f"A picture must be a file uploaded to this app (in Python: gradio_client.handle_file(path)): "
                           f"{error}") from None
        except Exception as error:
            raise refusal(f"An input was refused: {str(error).strip().splitlines()[0]}") from None


def model_input(image) -> torch.Tensor:
    """An image from a component (PIL, numpy or a path) -> the model input (1, 3, 28, 28)."""
    if image is None:
        raise ImageError("There is no image: draw, upload or pick a sample digit first.")
    return to_model_input(image)


class Callbacks:
    """What each event computes, as plain Python on numpy pictures and strings (tested without a server)."""

    def __init__(self, explorer: Explorer, worker: Worker | None = None):
        self.explorer, self.worker = explorer, worker  # the in_worker methods run in `worker` where there is one
        self.gif_dir = Path(tempfile.mkdtemp(prefix="explorer-gifs-"))

    # ---------------------------------------------------------------- inputs

    @user_errors
    @in_worker
    def prepare(self, image) -> np.ndarray:
        """Any picture -> the 28 x 28 model input as a picture."""
        return to_picture(model_input(image))

    @user_errors
    @in_worker
    def prepare_drawing(self, drawing) -> np.ndarray:
        """A sketch pad's value -> the 28 x 28 model input: its composite, the strokes on white (every
        brush color is dark enough to read on it). A blank pad (cleared, or every stroke undone) leaves the
        input shown as it is: clearing is how one starts another digit, not an error. image_mode="RGBA"
        would keep the strokes' alpha, but gradio 6.31's page then fails to render the tab ("Cannot read
        properties of undefined")."""
        composite = drawing.get("composite") if isinstance(drawing, dict) else drawing
        if composite is None or np.ptp(np.asarray(composite)) == 0:
            return gr.skip()
        return to_picture(model_input(composite))

    @user_errors
    def sample(self, digit, index, coloring) -> np.ndarray:
        """A shipped sample digit as a picture."""
        return to_picture(self.explorer.sample(int(digit), int(index), coloring))

    # ---------------------------------------------------------------- reconstruct

    @user_errors
    @in_worker
    def reconstruct(self, image) -> list:
        """/reconstruct: for each VAE of the `any` set (continuous, discrete, joint), its reconstruction,
        error map and description; the same nine for the `palette` set; last, the input's reading (the
        positions of the first nine and of the reading are those of the API before the two sets)."""
        x = model_input(image)
        results = self.explorer.reconstruct(x)
        outputs = []
        for name in (vae_name(kind, model_set) for model_set in MODEL_SETS for kind in VAE_KINDS):
            if name not in results.by_vae:
                outputs += [None, None, f"**Not loaded.** {self.explorer.problems.get(f'vae-{name}', '')}"]
            else:
                r = results.by_vae[name]
                outputs += [to_picture(r.image), error_picture(x, r.image), self.describe(name, r)]
        return outputs + [f"The classifier reads the input as **{results.digit}** ({results.confidence:.0%})."]

    def describe(self, name: str, r) -> str:
        """Markdown: the classifier's reading, the error, and the latent code (mean +- std, code probabilities)."""
        vae = self.explorer.vae(name)
        lines = [f"Read as **{r.digit}** ({r.confidence:.0%}) · MSE {r.mse:.4f}", ""]
        if vae.spec.continuous:
            cells = ", ".join(f"z{d}{_carries(vae, f'z{d}')} {r.mean[d]:+.2f}±{r.std[d]:.2f}" for d in vae.order)
            lines.append(f"Continuous (mean ± std), most informative first: {cells}")
        if vae.spec.categorical:
            probabilities = r.probabilities[vae.code_variable]
            top = torch.argsort(probabilities, descending=True)[:3]
            cells = ", ".join(f"digit {vae.code_map[c]} {probabilities[c]:.0%}" for c in top.tolist())
            name = "Code" if len(vae.spec.categorical) == 1 else f"Variable {vae.code_variable} (the one matched to digits)"
            accuracy = _code_accuracies(vae)
            right = (" (right for " + " / ".join(f"{a:.0%}" for a in accuracy) + " of test digits in the palette "
                     "/ random hues / gray)") if accuracy else ""
            lines.append(f"{name}: {cells}{right}")
        if len(vae.spec.categorical) > 1:
            cells = ", ".join(f"v{j}{_carries(vae, f'v{j}')}: {int(p.argmax())} ({float(p.max()):.0%})"
                              for j, p in enumerate(r.probabilities))
            lines.append(f"Each variable's likeliest category (variable: category (probability)): {cells}")
        return "\n\n".join(line for line in lines if line)

    # ---------------------------------------------------------------- sliders and codes

    @user_errors
    def decode(self, kind, latent, model_set=DEFAULT_SET) -> np.ndarray:
        """/decode: a VAE kind, a latent code (a JSON list of numbers, or a list) and the model set
        ("any", the default, or "palette") -> the image."""
        name = vae_name(kind, model_set)
        return to_picture(self.explorer.decode(name, self.latent(name, latent)))

    def latent(self, name, latent) -> torch.Tensor:
        """A latent code as the API takes it (a JSON list of numbers, or a list), checked -> z (1, D)."""
        if isinstance(latent, str):
            try:
                latent = json.loads(latent)
            except json.JSONDecodeError:
                raise ExplorerError("The latent code must be a JSON list of numbers, e.g. [0.1, -1.2, ...].") from None
        return self.explorer.check_latent(name, latent)

    @user_errors
    def controls(self, kind, model_set=DEFAULT_SET) -> list:
        """/controls: a VAE chosen (its kind and set): its sliders and code rows at z = 0 and the first category;
        a VAE with no continuous part (discrete: no neutral code, its first categories decode to a blur) at
        the code of the sample digit under "Encode a digit" (ENCODE_DIGIT, index 0, its palette color)."""
        name = vae_name(kind, model_set)
        spec = self.explorer.vae(name).spec
        if not spec.continuous:
            return self.set_controls(name, self.explorer.encode(name, self.explorer.sample(ENCODE_DIGIT, 0, "digit")))
        z = torch.zeros(1, spec.size)
        start = spec.continuous
        for k in spec.categorical:
            z[0, start] = 1
            start += k
        return self.set_controls(name, z)

    @user_errors
    def factor_controls(self, kind, model_set=DEFAULT_SET) -> list:
        """A VAE chosen: its factor sliders (each slot: its factor, the R² of its direction and its purity, at 0;
        hidden past the file's factors), a line on what they do or why there are none, and no measures yet."""
        vae = self.explorer.vae(vae_name(kind, model_set))
        metrics = vae.metadata.get("metrics", {})
        fitted = metrics.get("factor_directions", {})
        fits = dict(zip(fitted.get("factors", []), fitted.get("r2", [])))
        factors = list(vae.factor_directions)[:MAX_FACTORS]
        updates = []
        for slot in range(MAX_FACTORS):
            if slot < len(factors):
                name = factors[slot]
                tried = metrics.get("factor_purity", {}).get(name)
                label = name + (f" · R² {fits[name]:.2f}" if name in fits else "")
                if tried:
                    label += f" · purity {tried['purity']:.2f}" + (" · on the test digits it moves the other way"
                                                                  if tried["moved"].get(name, 0) < 0 else "")
                updates.append(gr.update(visible=True, value=0, label=label))
            else:
                updates.append(gr.update(visible=False, value=0))
        if not vae.spec.continuous:
            note = ("**Factor sliders**: none: this VAE has no continuous part (its digit is its code, the rows "
                    "above).")
        elif not fitted:
            note = f"**Factor sliders**: not measured: python -m train evaluate {shown_path(vae.path)}"
        elif not factors:
            note = "**Factor sliders**: none: no direction of this VAE's latent space predicts a factor."
        else:
            note = ("**Factor sliders**: each moves z from the picture shown along the direction that best "
                    "predicts its factor on the test digits (R²: how much of it that explains; purity: the share of "
                    "what it changed that was its own factor). Let go: the picture's factors are measured.")
        if vae.factors is not None:  # what the numbers on the z sliders and variables are, and where they come from
            note += (" The number after a latent's factor (\"z2 · width 0.20\"): the share of that factor's information "
                     "(its entropy) the latent carries on the test digits, normalised mutual information, measured by "
                     "`python -m train evaluate`.")
        return [*updates, note, ""]

    @user_errors
    @in_worker
    def measure_factors(self, kind, model_set, start, now) -> str:
        """/measure_factors: the factors measured on the pictures that a VAE decodes from two latent codes (JSON
        lists, as /decode takes them): where the factor sliders started and what they made (markdown table)."""
        name = vae_name(kind, model_set)
        if not str(now or "").strip():
            if str(start or "").strip():
                raise ExplorerError("Give the z to measure (the second one); the first, where the sliders started, "
                                    "is optional.")
            return ""  # the page's factor sliders let go where they were: nothing made, nothing to measure
        codes = [self.latent(name, text) for text in (start, now) if str(text or "").strip()]
        measured = self.explorer.picture_factors(name, torch.cat(codes))
        values = np.stack(list(measured.values()), axis=1)  # (pictures, factors)
        change = factor_change(values[0], values[1]) if len(codes) == 2 else None
        head = "| measured on the picture | at the start | now | change |\n|---|---|---|---|" if len(codes) == 2 else \
            "| measured on the picture | now |\n|---|---|"
        rows = []
        for i, factor in enumerate(measured):
            cells = [f"{v:.2f} {UNITS[factor]}".strip() if np.isfinite(v) else "none" for v in values[:, i]]
            if change is not None:
                cells.append(f"{change[i]:+.2f}" if np.isfinite(change[i]) else "-")
            rows.append(f"| {factor} | " + " | ".join(cells) + " |")
        return head + "\n" + "\n".join(rows)

    @user_errors
    def decoder_map(self, kind, model_set=DEFAULT_SET) -> str:
        """The sliders tab's hoverable map of a VAE, for the page (JSON of Explorer.decoder_map)."""
        return json.dumps(self.explorer.decoder_map(vae_name(kind, model_set)))

    @user_errors
    def map_caption(self, kind, model_set=DEFAULT_SET) -> str:
        """What the map of a VAE shows (markdown)."""
        vae = self.explorer.vae(vae_name(kind, model_set))
        spec = vae.spec
        what = ("the plane of the first two principal components of the 1,000 sample digits' latent means" if
                spec.continuous else "the plane of the first two principal components of the category "
                "probabilities of the 1,000 sample digits' 24 variables")
        hover = ("Hover or drag over it: that point decodes in the page at once and the sliders follow (to "
                 "their step of 0.05)" if spec.continuous else "Hover or drag over it: the point stands for a "
                 "probability per category of each variable (negative values clipped, each variable "
                 "renormalised), and the page decodes that mixture of categories at once")
        joint = (" The code stays the one selected above; the digits whose code is another are drawn faded."
                 if spec.continuous and spec.categorical else "")
        encoded = ("" if vae.metadata["training"].get("coloring", "digit") == "digit" else
                   " The digits were encoded in colors of their own (random hues, white or the palette, as this "
                   "set trained), so a click loads a digit in its own color, not the dot's.")
        return (f"**Latent map** ({kind} VAE, {MODEL_SETS[model_set][0]}): {what}, each dot a digit in its "
                f"class's palette color (the key below the map). {hover}. Click a dot to load that digit's "
                f"latent.{encoded}{joint}")

    @user_errors
    def encode_controls(self, kind, model_set, image) -> list:
        """"Encode this digit": the controls set to the digit's latent."""
        name = vae_name(kind, model_set)
        return self.set_controls(name, self.explorer.encode(name, model_input(image)))

    @user_errors
    def random_controls(self, kind, model_set, seed) -> list:
        """"Random": the controls set to a draw from the prior."""
        name, seed = vae_name(kind, model_set), check_seed(seed)
        return [*self.set_controls(name, self.explorer.prior(name, seed)), (seed + 1) % SEEDS]

    def set_controls(self, name: str, z: torch.Tensor) -> list:
        """Updates for every slider and code row, the dimension choice, and the latent text, showing z
        (its continuous values clipped to the sliders' range)."""
        vae = self.explorer.vae(name)
        spec = vae.spec
        z = z.clone()
        z[:, :spec.continuous] = z[:, :spec.continuous].clamp(-SLIDER_LIMIT, SLIDER_LIMIT)
        continuous, blocks = spec.split(z[0])
        updates = []
        for slot in range(MAX_SLIDERS):
            if slot < spec.continuous:
                d = vae.order[slot]
                state = (f"{vae.factor_label(f'z{d}')} · KL {vae.kl_per_dimension[d]:.2f} nats" if vae.is_active(d)
                         else "inactive: carries nothing")
                updates.append(gr.update(visible=True, value=round(float(continuous[d]), 2), label=f"z{d} · {state}"))
            else:
                updates.append(gr.update(visible=False, value=0))
        for slot in range(MAX_CODES):
            if slot < len(spec.categorical):
                k = spec.categorical[slot]
                if slot == vae.code_variable:
                    choices = sorted(((str(vae.code_map[c]), c) for c in range(k)), key=lambda item: item[0])
                    label = ("Code" if len(spec.categorical) == 1 else f"Variable {slot}") + \
                        f" (labeled by the digit it maps to{_code_accuracy(vae)})"
                else:
                    choices, label = [(str(c), c) for c in range(k)], f"Variable {slot} · {vae.factor_label(f'v{slot}')}"
                updates.append(gr.update(visible=True, choices=choices, value=int(blocks[slot].argmax()), label=label))
            else:
                updates.append(gr.update(visible=False))
        dimensions = [(f"z{d}", d) for d in vae.order]
        updates.append(gr.update(choices=dimensions, value=dimensions[0][1] if dimensions else None,
                                 visible=bool(spec.continuous and spec.categorical)))
        updates.append(json.dumps([round(v, 3) for v in z[0].tolist()]))
        return updates

    @user_errors
    def traversal(self, kind, latent, dimension, model_set=DEFAULT_SET) -> tuple[np.ndarray, str]:
        """/traversal: the grid of decoded variations around a latent code, with a caption."""
        name = vae_name(kind, model_set)
        z = self.latent(name, latent)
        try:
            dimension = int(dimension or 0)
        except (TypeError, ValueError, OverflowError):
            raise ExplorerError(f"The dimension to traverse must be a whole number, not {dimension!r}.") from None
        images, columns, rows = self.explorer.traversal(name, z, dimension)
        values = ", ".join(f"{v:g}" for v in TRAVERSAL_VALUES.tolist())
        vae = self.explorer.vae(name)
        carried = (lambda latent: f"{latent} ({vae.factor_label(latent)})") if vae.factors else str  # noqa: E731
        if kind == "discrete":
            others = [carried("v" + row.removeprefix("variable ")) for row in rows[1:]]
            caption = (f"Rows: {rows[0]}, then the others, the ones that change the picture most first "
                       f"({', '.join(others)}); columns: each category of the row's variable, the other variables "
                       f"as set above. The digit is spread over all {len(rows)} variables: one alone changes it little.")
        elif kind == "continuous":
            caption = f"Rows: {', '.join(carried(row) for row in rows)}; columns: the value {values}."
        else:
            caption = f"Rows: the code for each digit 0-9; columns: {carried(f'z{int(dimension or 0)}')} = {values}."
        if not vae.factors:
            caption += f" What each latent carries is not measured: python -m train evaluate {shown_path(vae.path)}"
        return grid_picture(images, columns), caption

    # ---------------------------------------------------------------- interpolate

    @user_errors
    def interpolate(self, kind, start, end, steps, path, seed, model_set=DEFAULT_SET) -> tuple:
        """/interpolate: the frames between two endpoints (an image, or a prior draw when empty), by the
        VAE of a kind in a set ("any", the default, or "palette")."""
        name, seed = vae_name(kind, model_set), check_seed(seed or 0)
        ends = [self.explorer.encode(name, model_input(image)) if image is not None
                else self.explorer.prior(name, (seed + i) % SEEDS) for i, image in enumerate((start, end))]
        frames = self.explorer.interpolate(name, *ends, int(steps), spherical=path == "spherical")
        gif = write_gif(frames, self.new_gif_path())
        strip = grid_picture(frames, len(frames))
        pictures = np.stack([to_picture(f) for f in frames])
        return strip, str(gif), pictures, gr.update(maximum=len(frames) - 1, value=0), pictures[0]

    def new_gif_path(self, keep_seconds: int = 600) -> Path:
        """A fresh file name for a GIF; GIFs older than `keep_seconds` are deleted (gradio has copied them)."""
        for old in self.gif_dir.glob("*.gif"):
            try:
                if old.stat().st_mtime < time.time() - keep_seconds:
                    old.unlink()
            except FileNotFoundError:  # another request deleted it first
                pass
        with tempfile.NamedTemporaryFile(suffix=".gif", dir=self.gif_dir, delete=False) as file:
            return Path(file.name)

    @staticmethod
    def frame(pictures, index) -> np.ndarray | None:
        """One frame of the last interpolation (the scrub slider)."""
        if pictures is None or len(pictures) == 0:
            return None
        return pictures[min(max(int(index), 0), len(pictures) - 1)]

    # ---------------------------------------------------------------- translate

    @user_errors
    def translate(self, image, color: str | None = None) -> list:
        """/translate: gray -> color and color -> gray, each with its cycle; with a color (any CSS color;
        only its hue is used), the hue-conditioned CycleGAN's painting in it and its cycle; and what the
        classifier reads. Without a color (None, "" or blanks: the page's color box cleared) the last two
        pictures are None and the readings say why."""
        x = model_input(image)
        color = str(color or "").strip()
        hue = None
        if color and "cyclegan-hue" not in self.explorer.problems:
            hue = color_hue(color)
        t = self.explorer.translate(x, hue)
        kind = ("gray: **Gray -> color** is its translation (Color -> gray keeps it gray)"
                if t.input_saturation < GRAY_SATURATION else
                "in color: **Color -> gray** is its translation (Gray -> color repaints it in a color of its own)")
        images = [t.to_color, t.to_color_cycle, t.to_gray, t.to_gray_cycle]
        names = ["input", "to color", "its cycle (back to gray)", "to gray", "its cycle (back to color)"]
        if t.chosen is not None:
            images += [t.chosen, t.chosen_cycle]
            names += ["in the chosen color", "its cycle"]
        digits, confidences = self.explorer.read(torch.cat([x, *images]))
        readings = " · ".join(f"{n}: **{int(d)}** ({float(c):.0%})" for n, d, c in zip(names, digits, confidences))
        chosen = [None, None]
        if t.chosen is not None:
            chosen = [to_picture(t.chosen), to_picture(t.chosen_cycle)]
            readings += f"\n\nAsked hue {hue * 360:.0f}°, painted {t.chosen_hue_error:.0f}° away from it."
        elif "cyclegan-hue" in self.explorer.problems:
            readings += f"\n\nChoosing the color is not available: {self.explorer.problems['cyclegan-hue']}"
        else:
            readings += "\n\nNo color chosen: pick one (or type a CSS color such as '#e6194b') to paint the digit in it."
        return ([to_picture(i) for i in images[:4]] + chosen
                + [f"The input is {kind}; its stroke's saturation {t.input_saturation:.2f}.\n\nClassifier reads: {readings}"])

    @staticmethod
    def translation_refused() -> list:
        """After /translate refused its input (a gray color, say): the chosen color's pictures and the readings
        cleared, so that none of them stands for a color the box no longer shows."""
        return [None, None, "**Not translated:** the input was refused (the message says why)."]

    # ---------------------------------------------------------------- models

    def compare_sets(self) -> str:
        """Markdown: the two sets of VAEs side by side, each metric in each coloring of the test digits
        (digit / random / gray), from the weights files' recorded test metrics."""
        rows = []
        for kind in VAE_KINDS:
            for model_set, (meaning, _) in MODEL_SETS.items():
                name = vae_name(kind, model_set)
                if name not in self.explorer.vaes:
                    continue
                colorings = self.explorer.vae(name).metadata.get("metrics", {}).get("colorings", {})
                each = lambda metric: " / ".join(_percent(colorings.get(c, {}).get(metric)) for c in COLORINGS)  # noqa: E731
                hue = colorings.get("random", {}).get("hue_error_median_degrees")
                rows.append(f"| {kind} | {meaning} | {each('recon_read_as_label')} | "
                            + (f"{each('code_accuracy')} | " if kind != "continuous" else "- | ")
                            + (f"{hue:.0f}° |" if hue is not None else "- |"))
        if not rows:
            return ""
        return ("**The two sets of VAEs** on the MNIST test set in each coloring (" + " / ".join(COLORINGS)
                + "; judged by the shipped classifier)\n\n| VAE | trained on | reconstruction read as the digit | "
                "code accuracy (its digit variable) | hue kept: median error, random colors |\n|---|---|---|---|---|\n"
                + "\n".join(rows))

    def compare_latents(self) -> str:
        """Markdown: every VAE's latent scores and likelihood bounds in each coloring of the test digits, from the
        weights files (train/evaluate.py: latent_scores); a VAE whose file has none says how to measure them."""
        rows, missing = [], []
        for model_set, (meaning, _) in MODEL_SETS.items():
            for kind in VAE_KINDS:
                name = vae_name(kind, model_set)
                if name not in self.explorer.vaes:
                    continue
                vae = self.explorer.vae(name)
                colorings = vae.metadata.get("metrics", {}).get("colorings", {})
                if "mig" not in colorings.get("random", {}):
                    missing.append(f"`python -m train evaluate {shown_path(vae.path)}`")
                    continue
                for coloring in COLORINGS:
                    m = colorings[coloring]
                    rows.append(f"| {kind} | {meaning} | {coloring} | {m['mig']:.2f} | {m['sap']:.2f} | "
                                f"{m['dci_disentanglement']:.2f} / {m['dci_completeness']:.2f} / "
                                f"{m['dci_informativeness']:.2f} | {m['neg_iwae']:.1f} ± {m['neg_iwae_se']:.1f} | "
                                f"{m['neg_elbo']:.1f} | {m['active_units']} |")
        table = ("**What the latents carry and how well the VAEs model the digits**, on the MNIST test set in each "
                 "coloring (the factors, scores and bounds are explained in each model's card below)\n\n"
                 "| VAE | trained on | coloring | MIG | SAP | DCI: disentanglement / completeness / informativeness | "
                 "-IWAE bound (nats, ± SE) | -ELBO (nats) | active units |\n|---|---|---|---|---|---|---|---|---|\n"
                 + "\n".join(rows)) if rows else ""
        if missing:
            table += "\n\nNot measured yet: " + ", ".join(missing) + "."
        return table

    @user_errors
    def model_card(self, stem) -> tuple:
        """A model's metrics and training facts (markdown), loss curve, KL per dimension, latent map, and the
        factor x latent heatmap (HTML, factor_heatmap)."""
        meta = self.explorer.metadata(stem)
        metrics, training = meta.get("metrics", {}), meta.get("training", {})
        rows = [f"| {name} | {_format(value)} |" for name, value in metrics.items()
                if name not in ("kl_per_dimension", "code_map", "test_data", "colorings", *SHOWN_APART)]
        colorings = metrics.get("colorings", {})
        names = [name for name in dict.fromkeys(name for each in colorings.values() for name in each)
                 if name not in ("hue_correlation", *SHOWN_APART)]
        hue = colorings.get("random", {}).get("hue_correlation")
        by_coloring = ("\n\n**In each coloring of the test digits** (`random`: hues from a fixed seed)\n\n| metric | "
                       + " | ".join(colorings) + " |\n|---|" + "---|" * len(colorings) + "\n"
                       + "\n".join(f"| {name} | " + " | ".join(_format(each[name]) if name in each else "-"
                                                                 for each in colorings.values()) + " |"
                                    for name in names)) if colorings else ""
        if hue:
            by_coloring += f"\n\n**The dimensions that carry the hue** (`hue_correlation`): {_hue_dimensions(hue)}"
        by_coloring += _factor_sliders_table(metrics)
        facts = [f"| {name} | {_format(training[name])} |" for name in
                 ("data", "coloring", "epochs", "steps", "batch_size", "seconds", "seed", "device", "precision")
                 if name in training]
        shown = {}  # meaning -> the names shown that have it
        for name in dict.fromkeys([*metrics, *names]):
            if name in METRIC_MEANINGS:
                shown.setdefault(METRIC_MEANINGS[name], []).append(f"`{name}`")
        glossary = "\n".join(f"- {', '.join(shown[meaning])}: {meaning}" for meaning in shown)
        if training.get("coloring") in COLORING_MEANINGS:
            glossary += f"\n- coloring `{training['coloring']}`: {COLORING_MEANINGS[training['coloring']]}"
        if "mutual_information" in metrics:
            glossary += "\n- the factors: " + "; ".join(f"{name}: {FACTOR_MEANINGS[name]}" for name in FACTOR_MEANINGS)
        card = (f"### {stem}\nTest metrics on the {metrics.get('test_data', 'test set')}; written by "
                f"`python -m train evaluate weights/{stem}.safetensors`.\n\n| metric | value |\n|---|---|\n"
                + "\n".join(rows) + by_coloring + "\n\n| training | value |\n|---|---|\n" + "\n".join(facts)
                + "\n\n**What the figures mean** (shares are fractions: 0.9745 = 97.45%)\n\n" + glossary)
        curve = pd.DataFrame([{"step": p["step"], "value": p[key], "curve": key} for p in training.get("curve", [])
                              for key in CURVES if key in p])
        kl = metrics.get("kl_per_dimension") or []
        names = [f"z{d}" for d in range(len(kl))]
        coordinates, labels = (self.explorer.latent_map(stem.removeprefix("vae-")) if stem.startswith("vae-")
                               else (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)))
        heatmap = factor_heatmap(metrics, self.explorer.vae(stem.removeprefix("vae-")).order
                                 if stem.removeprefix("vae-") in self.explorer.vaes else None)
        # A model without a curve, KL or latent map gets an empty plot, not None: a plot that loses its value
        # throws a script error in gradio 6.31 (its resize observer reads the removed chart)
        return (card, gr.LinePlot(curve if not curve.empty else pd.DataFrame(columns=["step", "value", "curve"])),
                gr.BarPlot(pd.DataFrame({"dimension": names, "KL (nats)": kl}), sort=names, y_lim=[0, None]),
                gr.ScatterPlot(pd.DataFrame({"PC 1": coordinates[:, 0].numpy(), "PC 2": coordinates[:, 1].numpy(),
                                             "digit": pd.Series([str(d) for d in labels.tolist()], dtype=str)})),
                heatmap)

    def plot_captions(self, stem) -> tuple:
        """The Models tab's plots captioned with the model's name, sent after their data (model_card): gradio
        6.31 redraws a native plot when its caption changes, but a new value alone leaves the chart it drew
        (the previous model's bars, no line for a CycleGAN's curves)."""
        has_kl = bool(self.explorer.metadata(stem).get("metrics", {}).get("kl_per_dimension"))  # as model_card plots
        return (gr.LinePlot(caption=f"{stem}: the training losses, every 50 steps"),
                gr.BarPlot(caption=f"{stem}: " + ("the test-set KL of each continuous dimension" if has_kl
                                                  else "none (no continuous latent)")),
                gr.ScatterPlot(caption=f"{stem}: " + ("the first two principal components of the posterior (its "
                                                      "means, then each categorical variable's probabilities)"
                                                      if stem.startswith("vae-") else "none (not a VAE)")))


def color_hue(color: str) -> float:
    """The hue in [0, 1) of a CSS color, as CSS Color 4 reads it (tinycss2): "#e6194b", "red",
    "rgb(230, 25, 75)", "rgba(230, 25, 75, 0.5)", "rgb(230 25 75 / 50%)", "hsl(350deg 80% 50%)", "hwb(...)";
    the alpha plays no part, channels beyond the sRGB gamut are clipped. ExplorerError for a gray, or for
    what is not a color in sRGB, HSL or HWB."""
    not_a_color = ExplorerError(f"{str(color)[:60]!r} is not a color this app reads: use a color like '#e6194b', "
                                "'rgb(230, 25, 75)', 'hsl(350, 80%, 50%)' or 'red'.")
    if len(str(color)) > 100:  # the parser's time grows with the text (7 s for 1.6 MB)
        raise not_a_color
    try:
        channels = tinycss2.color4.parse_color(str(color)).to("srgb").coordinates
    except (AttributeError, NotImplementedError, ValueError):  # not a color (None), "currentcolor" (a str), lab(), color()
        raise not_a_color from None
    if not all(math.isfinite(channel) for channel in channels):  # hsl(120 100% 1e400%)
        raise not_a_color
    red, green, blue = (min(max(channel, 0.0), 1.0) for channel in channels)
    hue, saturation, _ = colorsys.rgb_to_hsv(red, green, blue)
    if saturation < GRAY_SATURATION:
        raise ExplorerError(f"{str(color)[:60]!r} is (almost) gray or transparent: pick a color; only its hue is used.")
    return hue


SHOWN_APART = ("mutual_information", "factor_directions", "factor_purity")  # a heatmap and a table, not cells


def _factor_sliders_table(metrics: dict) -> str:
    """Markdown: each factor slider's fit (R²) and what moving along it did (factor_purity), or "" if not measured."""
    directions, purity = metrics.get("factor_directions"), metrics.get("factor_purity", {})
    if not directions:
        return ""
    rows = []
    for name, r2 in zip(directions["factors"], directions["r2"]):
        tried = purity.get(name)
        others = ", ".join(f"{other} {shift:+.2f}" for other, shift in sorted(
            tried["moved"].items(), key=lambda item: -abs(item[1]))[:5] if other != name and abs(shift) >= 0.05) \
            if tried else "-"
        rows.append(f"| {name} | {r2:.2f} | {tried['moved'].get(name, float('nan')):+.2f} | {tried['purity']:.2f} | "
                    f"{others} |" if tried else f"| {name} | {r2:.2f} | - | - | - |")
    return ("\n\n**The factor sliders** (`factor_directions`, `factor_purity`: "
            f"{metrics.get('purity_digits', 100)} test digits moved 2 along each; changes in test-set standard "
            "deviations)\n\n| factor | R² of its direction | its own change | purity | the others' largest changes |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows))


def factor_heatmap(metrics: dict, order: list[int] | None = None) -> str:
    """HTML: the factor x latent heatmap of a VAE's recorded metrics (its training coloring's `mutual_information`):
    a row per latent (the continuous dimensions in `order`, then the categorical variables), a column per factor,
    each cell's value written in it and its shade from white (0) to dark blue (the table's largest value: an
    entangled VAE's values are all small, and its structure should show all the same); a line saying how to
    measure them for a file without them; "" for a model that is not a VAE."""
    table = metrics.get("mutual_information")
    if table is None:
        return ("<p>The factors are not measured for this file: <code>python -m train evaluate FILE</code> "
                "records them.</p>" if "kl_per_dimension" in metrics else "")
    latents, factors = table["latents"], table["factors"]
    rows = [f"z{d}" for d in order] if order is not None else [l for l in latents if l.startswith("z")]
    rows += [l for l in latents if l.startswith("v")]
    top = max(max(row) for row in table["table"]) or 1.0
    cell = "padding: 2px 4px; text-align: center"
    head = "".join(f'<th style="{cell}">{html.escape(str(factor))}</th>' for factor in factors)
    body = []
    for latent in rows:
        values = table["table"][latents.index(latent)]
        cells = "".join(f'<td style="{cell}; background: rgb({255 - 225 * v / top:.0f}, {255 - 180 * v / top:.0f}, '
                        f'{255 - 75 * v / top:.0f}); color: {"#fff" if v / top > 0.5 else "#111"}">{v:.2f}</td>'
                        for v in values)
        body.append(f'<tr><th style="{cell}">{html.escape(str(latent))}</th>{cells}</tr>')
    return ('<table class="factor-heatmap" style="border-collapse: collapse; font-size: 0.75em; width: 100%">'
            f'<caption>How much of each factor each latent carries: I(latent; factor) / H(factor), the test digits '
            f'in the training coloring (darkest: {top:.2f}, this table\'s largest)</caption><tr><th></th>{head}</tr>'
            f'{"".join(body)}</table>')


def _carries(vae, latent: str) -> str:
    """" (slant)": the factor a latent carries (LoadedVAE.strongest_factor, at least FACTOR_MI), or ""."""
    found = vae.strongest_factor(latent)
    return f" ({found[0]})" if found and found[1] >= FACTOR_MI else ""


def _code_accuracies(vae) -> list[float] | None:
    """How often a VAE's code variable names the digit in each coloring of the test digits (COLORINGS' order;
    the recorded Hungarian-matched code_accuracy), or None where one is not recorded."""
    colorings = vae.metadata["metrics"].get("colorings", {})
    accuracy = [colorings.get(coloring, {}).get("code_accuracy") for coloring in COLORINGS]
    return None if None in accuracy else accuracy


def _code_accuracy(vae) -> str:
    """", right for 41-42% of test digits": the range of _code_accuracies, or "" where they are not recorded."""
    accuracy = _code_accuracies(vae)
    if not accuracy:
        return ""
    low, high = round(100 * min(accuracy)), round(100 * max(accuracy))
    return f", right for {low}{'' if low == high else f'-{high}'}% of test digits"


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _format(value) -> str:
    """A value for a markdown table's cell: floats to 4 significant digits, a dict as "key: value; ...",
    "|" escaped."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_format(each)}" for key, each in value.items())
    return str(value).replace("|", "\\|")


def _hue_dimensions(correlation: list[float]) -> str:
    """Each continuous dimension's circular correlation with the input's hue (random coloring, [0, 1]) ->
    the dimensions the sliders label "hue", most correlated first: "z12 0.82, z0 0.82 (of 16, with r >= 0.5)"."""
    carry = sorted(((r, d) for d, r in enumerate(correlation) if r >= HUE_CORRELATION), reverse=True)
    return (", ".join(f"z{d} {r:.2f}" for r, d in carry) or "none") + \
        f" (of {len(correlation)}, with r >= {HUE_CORRELATION})"


# ----------------------------------------------------------------------------- layout


def picture(label: str, **options) -> gr.Image:
    """An output image shown enlarged with crisp pixels."""
    return Picture(label=label, interactive=False, format="png", elem_classes="pixelated",
                   buttons=["download"], **options)


def digit_input(callbacks: Callbacks, name: str, label: str, digit: int = 7, coloring: str = "digit",
                prior: bool = False) -> gr.Image:
    """An input picker: a sample digit, a drawing or an upload, shown as the 28 x 28 model input
    (elem_ids `{name}-input`, `{name}-sketch`, `{name}-upload`). With `prior`, a "Prior" tab: choosing it
    empties the input (the endpoint is then a draw from the prior), choosing "Sample" again shows the sample."""
    empty = "Empty: a random draw from the prior" if prior else "Pick a sample, draw or upload a digit"
    with gr.Group():
        first = None if "samples" in callbacks.explorer.problems else callbacks.sample(digit, 0, coloring)
        shown = DigitImage(first, label=label, type="filepath", image_mode=None,
                           format="png", interactive=False, height=180, elem_id=f"{name}-input",
                           elem_classes="pixelated", placeholder=empty, buttons=["download"])
        with gr.Tabs():
            with gr.Tab("Sample") as sample_tab:
                with gr.Row():
                    digit_choice = gr.Dropdown(list(range(10)), value=digit, label="Digit", min_width=80)
                    index = gr.Slider(0, 99, value=0, step=1, label="Index in the sample pack", min_width=180)
                coloring_choice = gr.Radio(list(COLORINGS), value=coloring, label="Coloring")
            with gr.Tab("Draw"):
                sketch = Sketchpad(label="Draw a digit", type="numpy", layers=False, image_mode="RGB", canvas_size=(280, 280),
                                   elem_id=f"{name}-sketch",
                                   brush=gr.Brush(colors=["#000000", "#e6194b", "#3cb44b", "#4363d8", "#f58231"],
                                                  default_size=14, color_mode="defaults"))
            with gr.Tab("Upload"):
                upload = DigitImage(label="Upload any picture of a digit", type="filepath", image_mode=None,
                                    format="png", sources=["upload", "clipboard"], height=180, elem_id=f"{name}-upload")
            if prior:
                with gr.Tab("Prior") as prior_tab:
                    gr.Markdown("This endpoint is a random draw from the prior (the input above is empty). The seed "
                                "of the prior draws chooses it: change the seed for another draw.")
                prior_tab.select(lambda: None, None, shown, api_visibility="private")
    sample_events = [digit_choice.change, index.change, coloring_choice.change] + ([sample_tab.select] if prior else [])
    gr.on(sample_events, callbacks.sample, [digit_choice, index, coloring_choice], shown, api_visibility="private",
          show_progress="hidden")
    sketch.change(callbacks.prepare_drawing, sketch, shown, api_visibility="private",
                  trigger_mode="always_last", show_progress="hidden")
    upload.upload(callbacks.prepare, upload, shown, api_visibility="private")
    return shown


def build_app(explorer: Explorer | None = None, start_worker: bool = False) -> gr.Blocks:
    """The explorer's Gradio Blocks: launch with `.launch(**launch_options())`. Reading pictures and
    reconstructing run in a Worker process, started now with `start_worker` (app.py), else at the first
    picture."""
    explorer = explorer or Explorer()
    worker = Worker(explorer)
    if start_worker:
        worker.start()
    callbacks = Callbacks(explorer, worker)
    kinds = [kind for kind in VAE_KINDS if any(vae_name(kind, model_set) in explorer.vaes for model_set in MODEL_SETS)]
    default_kind = "joint" if "joint" in kinds else (kinds[0] if kinds else None)
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
                        + "\n".join(f"- {message}" for message in explorer.problems.values()))
        # The sliders tab's server path (/decode): the last z the page asked the server to decode, and its
        # picture. Hidden, and outside the tabs, so that they are rendered (and hold their values) at once.
        sent = gr.Textbox(label="z", visible="hidden")
        decoded = picture("Decoded image (the server's)", visible="hidden", elem_id="decoded")
        with gr.Tabs():
            with gr.Tab("Reconstruct", id="reconstruct"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=240):
                        source = digit_input(callbacks, "reconstruct", "Input, as the models see it")
                        reading = gr.Markdown()
                    with gr.Column(scale=3):
                        outputs = {}
                        for model_set in MODEL_SETS:
                            gr.Markdown(f"#### VAEs {MODEL_SETS[model_set][0]}")
                            with gr.Row():
                                for kind in VAE_KINDS:
                                    name = vae_name(kind, model_set)
                                    with gr.Column(scale=1, min_width=200):
                                        gr.Markdown(f"**{kind} VAE**")
                                        with gr.Row():
                                            outputs[name] = [picture("Reconstruction", height=150,
                                                                     elem_id=f"reconstruction-{name}"),
                                                             picture("|error|", height=150)]
                                        outputs[name].append(gr.Markdown(elem_id=f"description-{name}"))
                reconstructions = [block for name in outputs for block in outputs[name]] + [reading]
                source.change(callbacks.reconstruct, source, reconstructions, api_name="reconstruct",
                              trigger_mode="always_last", show_progress="hidden")
                app.load(callbacks.reconstruct, source, reconstructions, api_visibility="private")

            with gr.Tab("Interpolate", id="interpolate"):
                with gr.Row():
                    start = digit_input(callbacks, "start", "Start", digit=1, prior=True)
                    end = digit_input(callbacks, "end", "End", digit=7, prior=True)
                    with gr.Column():
                        kind_i = gr.Dropdown(kinds, value=default_kind, label="Model")
                        set_i = model_set_choice()
                        steps = gr.Slider(2, 32, value=10, step=1, label="Steps")
                        path = gr.Radio(["linear", "spherical"], value="linear", label="Path",
                                        info="spherical: slerp on the continuous part")
                        seed_i = gr.Number(0, precision=0, label="Seed of the prior draws")
                        go = gr.Button("Interpolate", variant="primary")
                strip = picture("Path, start to end", height=140, elem_id="strip")
                with gr.Row():
                    gif = gr.Image(label="Animated GIF (download)", type="filepath", format="gif",
                                   interactive=False, buttons=["download"], height=200)
                    with gr.Column():
                        frames = gr.State()
                        scrub = gr.Slider(0, 9, value=0, step=1, label="Scrub through the path")
                        frame = picture("Frame", height=200)
                interpolation = ([kind_i, start, end, steps, path, seed_i, set_i], [strip, gif, frames, scrub, frame])
                gr.on([go.click, start.change, end.change, kind_i.change, set_i.change, steps.release, path.change,
                       seed_i.input],
                      callbacks.interpolate, *interpolation, api_name="interpolate", trigger_mode="always_last")
                app.load(callbacks.interpolate, *interpolation, api_visibility="private")
                scrub.input(callbacks.frame, [frames, scrub], frame, api_visibility="private",
                            trigger_mode="always_last", show_progress="hidden", concurrency_limit=None)

            with gr.Tab("Latent sliders and codes", id="sliders"):
                with gr.Row():
                    with gr.Column(scale=2):
                        with gr.Row():
                            kind_s = gr.Dropdown(kinds, value=default_kind, label="Model", elem_id="slider-model")
                            set_s = model_set_choice(elem_id="slider-set")
                        sliders = [gr.Slider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0, step=0.05, visible=False,
                                             label=f"z{i}", elem_id=f"slider-{i}") for i in range(MAX_SLIDERS)]
                        codes = [gr.Radio([], visible=False, label=f"Variable {j}", elem_id=f"code-{j}")
                                 for j in range(MAX_CODES)]
                    with gr.Column(scale=1, min_width=260):
                        specs = {name: {"continuous": vae.spec.continuous, "order": vae.order, "limit": SLIDER_LIMIT,
                                        "categorical": list(vae.spec.categorical),
                                        "factors": [[factor, direction.tolist()] for factor, direction in
                                                    vae.factor_directions.items()][:MAX_FACTORS]}
                                 for name, vae in explorer.vaes.items()}
                        gr.HTML(json.dumps(specs), html_template=DECODED_HTML, elem_id="decoded-image",
                                js_on_load=_once_loaded("window.latentExplorer.configure(JSON.parse(props.value)); "
                                                        "window.latentExplorer.attach();"))
                        with gr.Group():  # beside the picture: what moves it by factor, and what it measures
                            factor_note = gr.Markdown(elem_id="factor-note")
                            factor_sliders = [gr.Slider(-3, 3, value=0, step=0.1, visible=False, label=f"factor {i}",
                                                        interactive=True, elem_id=f"factor-{i}")  # no event's input
                                              for i in range(MAX_FACTORS)]
                            factor_measures = gr.Markdown(elem_id="factor-measures")
                            factor_start = gr.Textbox(visible=False)
                        latent_plane = gr.HTML("", html_template=MAP_HTML, elem_id="slider-map",
                                               js_on_load=_once_loaded(_MAP_JS))  # drawn at page load (app.load)
                        map_caption = gr.Markdown()
                        latent = gr.Textbox(label="z, as /decode receives it", interactive=False, max_lines=3,
                                            elem_id="latent")
                        with gr.Row():
                            seed_s = gr.Number(0, precision=0, label="Seed of the next draw", min_width=80)
                            random = gr.Button("Random (prior)")
                        with gr.Accordion("Encode a digit", open=False):
                            encode_source = digit_input(callbacks, "encode", "Digit to encode", digit=ENCODE_DIGIT)
                            encode = gr.Button("Set the sliders from this digit")
                        dimension = gr.Dropdown([], label="Dimension to traverse", visible=False,  # /traversal checks it
                                                allow_custom_value=True)
                        traverse = gr.Button("Traversal grid")
                        grid = picture("Traversal", show_label=False)  # its badge would cover the first row
                        caption = gr.Markdown()
                controls = [*sliders, *codes, dimension, latent]
                model = [kind_s, set_s]
                # then draw: another set's VAE with the same z leaves the latent text as it was (no change event)
                gr.on([kind_s.change, set_s.change], callbacks.controls, model, controls, api_name="controls").then(
                    None, [*model, latent, sent], sent, js=_SWITCH_JS)
                gr.on([kind_s.change, set_s.change], callbacks.decoder_map, model, latent_plane, api_visibility="private")
                gr.on([app.load, kind_s.change, set_s.change], callbacks.map_caption, model, map_caption,
                      api_visibility="private")
                app.load(callbacks.controls, model, controls, api_visibility="private")
                gr.on([app.load, kind_s.change, set_s.change], callbacks.factor_controls, model,
                      [*factor_sliders, factor_note, factor_measures], api_visibility="private")
                # a factor slider let go: the factors measured on the picture it made and on the one it started from
                gr.on([f.release for f in factor_sliders], callbacks.measure_factors, [*model, factor_start, latent],
                      factor_measures, api_name="measure_factors", trigger_mode="always_last", show_progress="hidden",
                      js="(kind, modelSet, start, now) => [kind, modelSet, ...(window.latentExplorer?.factorTexts() ?? "
                         "[start, now])]")
                app.load(callbacks.decoder_map, model, latent_plane, api_visibility="private")
                random.click(callbacks.random_controls, [*model, seed_s], [*controls, seed_s], api_visibility="private")
                encode.click(callbacks.encode_controls, [*model, encode_source], controls, api_visibility="private")
                gr.on([s.input for s in sliders] + [c.input for c in codes], None, [*model, *sliders, *codes], latent,
                      js=_LATENT_JS)
                # the page decodes z itself; only where it cannot does `sent` change and the server decode it
                latent.change(None, [*model, latent, sent], sent, js=_ROUTE_JS)
                sent.change(callbacks.decode, [kind_s, sent, set_s], decoded, api_name="decode", trigger_mode="always_last",
                            show_progress="hidden", concurrency_limit=None).then(
                    None, [decoded, sent], None, js="(picture, z) => window.latentExplorer?.paintPicture(picture, z)")
                traverse.click(callbacks.traversal, [kind_s, latent, dimension, set_s], [grid, caption], api_name="traversal")

            with gr.Tab("Translate colors", id="translate"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=240):
                        source_t = digit_input(callbacks, "translate", "Input", digit=4, coloring="gray")
                    with gr.Column(scale=2):
                        gr.Markdown("**The study project's CycleGAN**: one generator each way, trained unpaired "
                                    "on gray digits and digits in random colors; it picks the color itself.")
                        with gr.Row():
                            translated = [picture(label, height=150, elem_id=f"translated-{i}") for i, label in enumerate((
                                "Gray -> color", "... and back to gray (cycle)",
                                "Color -> gray", "... and back to color (cycle)"))]
                        gr.Markdown("**You choose the color**: a CycleGAN whose gray -> color generator also "
                                    "takes a hue (the input is made gray first; only the color's hue is used).")
                        with gr.Row():
                            color = gr.ColorPicker("#e6194b", label="Color", elem_id="color")
                            translated += [picture(label, height=150, elem_id=f"translated-{i}") for i, label in (
                                (4, "In the chosen color"), (5, "... and back to gray (cycle)"))]
                        readings = gr.Markdown()
                gr.on([source_t.change, color.change], callbacks.translate, [source_t, color], [*translated, readings],
                      api_name="translate", trigger_mode="always_last", show_progress="hidden").failure(
                    callbacks.translation_refused, None, [*translated[4:], readings], api_visibility="private",
                    show_progress="hidden")
                app.load(callbacks.translate, [source_t, color], [*translated, readings], api_visibility="private")

            with gr.Tab("Models", id="models"):
                gr.Markdown(callbacks.compare_sets())
                gr.Markdown(callbacks.compare_latents())
                stems = [f"vae-{name}" for name in explorer.vaes] + [s for s in ("cyclegan", "cyclegan-hue", "classifier")
                                                                     if s not in explorer.problems]
                stem = gr.Dropdown(stems, value=stems[0] if stems else None, label="Model")
                with gr.Row():
                    card = gr.Markdown()
                    with gr.Column():
                        curve = gr.LinePlot(x="step", y="value", color="curve", label="Training curve")
                        kl_plot = gr.BarPlot(x="dimension", y="KL (nats)", y_lim=[0, None],
                                             label="KL per continuous dimension (test set)")
                        latent_map = gr.ScatterPlot(x="PC 1", y="PC 2", color="digit", elem_id="latent-map",
                                                    label="Posterior of 1,000 test digits (PCA)")
                        heatmap = gr.HTML(elem_id="factor-heatmap")
                plots = [curve, kl_plot, latent_map]
                stem.change(callbacks.model_card, stem, [card, *plots, heatmap], api_name="model_card").then(
                    callbacks.plot_captions, stem, plots, api_visibility="private", show_progress="hidden")
                app.load(callbacks.model_card, stem, [card, *plots, heatmap], api_visibility="private").then(
                    callbacks.plot_captions, stem, plots, api_visibility="private", show_progress="hidden")
    # Slider events (decode, scrub) run with no concurrency limit, the rest 4 at a time; queue status
    # is sent every 5 s rather than to every waiting client after every event; at most QUEUE_EVENTS wait.
    return app.queue(default_concurrency_limit=4, status_update_rate=5, max_size=QUEUE_EVENTS)


def model_set_choice(**options) -> gr.Radio:
    """The choice of the VAEs' set (the API's `model_set`), "any" by default."""
    return gr.Radio([(MODEL_SETS[model_set][0], model_set) for model_set in MODEL_SETS], value=DEFAULT_SET,
                    label="VAEs", **options)


def _once_loaded(code: str) -> str:
    """A gr.HTML's js_on_load: run `code` (with `element`, `props`, `watch` in scope) once the page script
    web/explorer.js has loaded (the head's scripts may come after the first components render)."""
    return f"(function start() {{ if (!window.latentExplorer) return setTimeout(start, 50); {code} }})();"


# The latent text changed (a slider, a code, a prior draw, an encoded digit): the page draws it and keeps
# `sent` as it is (no server event), or, where it cannot decode, passes z on to `sent`: /decode draws it.
# A VAE's name in the page (its decoder web/models/vae-<name>.onnx): its kind and set's suffix (vae_name).
_NAME_JS = f"kind + {json.dumps({model_set: suffix for model_set, (_, suffix) in MODEL_SETS.items()})}[modelSet]"
_ROUTE_JS = f"""async (kind, modelSet, z, last, newModel = false) => {{
    for (let i = 0; i < 100 && !window.latentExplorer; i++) await new Promise(wait => setTimeout(wait, 50));
    return window.latentExplorer ? await window.latentExplorer.route({_NAME_JS}, z, last, newModel) : z;
}}"""
# The same after another VAE was chosen: where the server decodes, it redraws even an unchanged z.
_SWITCH_JS = f"(kind, modelSet, z, last) => ({_ROUTE_JS})(kind, modelSet, z, last, true)"
# The hoverable map: drawn from the HTML's value (Explorer.decoder_map), redrawn when the model changes.
_MAP_JS = """
const draw = () => window.latentExplorer.map(element, props.value);
draw();
watch('value', draw);
"""


# Browser-side: the slider and code values -> the latent text (web/explorer.js: latentText), drawn by the
# page's decoder; no round trip to the server.
_LATENT_JS = f"""(kind, modelSet, ...values) => window.latentExplorer.controlsMoved({_NAME_JS}, values.slice(0, {MAX_SLIDERS}),
                                                                                   values.slice({MAX_SLIDERS}))"""
