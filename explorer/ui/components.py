"""The components the tabs share: pictures (sent inline, shown enlarged), the digit input (sample, drawing, upload),
the sketch pad with bounded blobs, the choice of a VAE, and the page's own scripts and style."""

from __future__ import annotations

import base64
from pathlib import Path

import gradio as gr
import numpy as np
import PIL.Image
from fastapi import HTTPException
from gradio.components.base import server
from gradio.components.image_editor import AcceptBlobs, EditorDataBlobs
from gradio_client import utils as client_utils

from ..data import COLORINGS
from ..explore import DEFAULT_SET, MODEL_SETS, VAE_KINDS, Explorer, vae_name
from ..images import PNG_DATA_URL, not_an_image, png_bytes, save_png, to_picture, far_too_large
from ..limits import BLOB_BYTES, BLOB_ID_LENGTH, BLOB_LAYERS, BLOB_STORE_BYTES, BoundedStore
from .checks import model_input, refusal, user_errors
from .worker import in_worker

STYLE = """
.pixelated .image-container, .pixelated .image-container > button, .pixelated .image-frame { width: 100%; height: 100%; }
.pixelated img { width: 100% !important; height: 100% !important; object-fit: contain; image-rendering: pixelated; }
#decoded-image canvas { width: 100%; max-width: 260px; aspect-ratio: 1; image-rendering: pixelated; display: block; margin: auto; }
canvas.latent-plane { width: 100%; max-width: 360px; aspect-ratio: 1; cursor: crosshair; display: block; margin: auto; }
.latent-plane-legend { display: flex; justify-content: center; gap: 0.6em; font-size: 0.85em; width: 100%; max-width: 360px;
                       margin: 0 auto; padding: 0.2em 0; background: #000; }
.latent-plane-legend > span { color: #eee !important; }
#beta-lab .lab-controls { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: center; }
#beta-lab .lab-controls input[type=range] { width: 260px; vertical-align: middle; }
#beta-lab .lab-figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
#beta-lab figure { margin: 0; max-width: 440px; }
#beta-lab figcaption { font-size: 0.85em; }
#beta-lab canvas { display: block; image-rendering: pixelated; }
#beta-lab canvas.lab-recon { width: 560px; max-width: 100%; }
#beta-lab .lab-region { font-weight: 600; }
"""
# The page's own decoder (web/, made by `python -m train web`): ONNX Runtime Web and the exported decoders,
# served by the app itself (no CDN), loaded into the page's head.
WEB_DIR = Path(__file__).resolve().parents[2] / "web"
WEB_URL = f"gradio_api/file={WEB_DIR}"
HEAD = (f'<script src="{WEB_URL}/vendor/onnxruntime-web/ort.wasm.min.js"></script>\n'
        f'<script src="{WEB_URL}/explorer.js"></script>\n'
        f'<script src="{WEB_URL}/lab.js"></script>\n'
        f'<script src="{WEB_URL}/sketch.js"></script>')  # the sketch pads' brush picked at once
DECODED_HTML = '<canvas width="28" height="28" aria-label="Decoded image"></canvas>'
MAP_HTML = ('<canvas class="latent-plane" width="360" height="360" aria-label="Latent map"></canvas>'
            '<div class="latent-plane-legend" role="group" aria-label="Key: the dots\' colors are the digit classes"></div>'
            '<div class="latent-plane-caption"></div>')


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


def picture(label: str, **options) -> gr.Image:
    """An output image shown enlarged with crisp pixels."""
    return Picture(label=label, interactive=False, format="png", elem_classes="pixelated",
                   buttons=["download"], **options)


def digit_input(callbacks, name: str, label: str, digit: int = 7, coloring: str = "digit",
                prior: bool = False) -> gr.Image:
    """An input picker (its events: `callbacks`' InputCallbacks): a sample digit, a drawing or an upload, shown as the 28 x 28 model input
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




class InputCallbacks:
    """The digit input's events (digit_input): a picture, a drawing or a sample digit -> the 28 x 28 model input."""

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


def vae_choice(explorer: Explorer, **options) -> list[gr.components.Component]:
    """The choice of a VAE, as the API takes it: [kind, model_set, vae]. The kind and set (hidden) are an API call's
    first way to name one ("joint" in "any" by default); `vae` (shown: every listed VAE with its layout, coloring
    and test -ELBO) names any listed VAE by its name or file name and, where given, wins. It is empty until the
    page loads (default_vae sets it), so that an API call without it keeps meaning its kind and set."""
    kind = gr.Dropdown(list(VAE_KINDS), value="joint", label="kind", visible=False)
    model_set = gr.Radio([(meaning, name) for name, (meaning, _) in MODEL_SETS.items()], value=DEFAULT_SET,
                         label="model_set", visible=False)
    vae = gr.Dropdown([(v.summary, name) for name, v in explorer.vaes.items()], value=None, label="VAE",
                      allow_custom_value=True, **options)
    return [kind, model_set, vae]


def default_vae(explorer: Explorer) -> str | None:
    """The VAE a tab shows first: the joint VAE trained on any color where it loaded, else the first listed."""
    default = vae_name("joint", DEFAULT_SET)
    return default if default in explorer.vaes else next(iter(explorer.vaes), None)
