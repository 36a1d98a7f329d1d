"""The Latent sliders and codes tab: a slider per continuous dimension and a row per categorical variable, decoded in the
page (web/explorer.js) as they move; the hoverable latent map; prior draws, an encoded digit, traversals (the
manifold for a 2-D latent); the factor sliders beside the picture (factor_sliders.py)."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import torch

from ..explore import (DEFAULT_SET, MANIFOLD_VALUES, MODEL_SETS, SEEDS, SLIDER_LIMIT, TRAVERSAL_VALUES, Explorer,
                       ExplorerError, check_seed, is_plane, shown_path)
from ..images import grid_picture, to_picture
from .checks import model_input, user_errors
from .components import DECODED_HTML, MAP_HTML, default_vae, digit_input, picture, vae_choice
from .factor_sliders import MAX_FACTORS, factor_sliders
from .glossary import code_accuracy

MAX_SLIDERS = 16  # slider slots for continuous dimensions (the largest shipped VAE has 16)
MAX_CODES = 24  # radio rows for categorical variables (the discrete VAE has 24)
ENCODE_DIGIT = 3  # the sample digit under the sliders tab's "Encode a digit", and the discrete VAE's first code


class SliderCallbacks:

    @user_errors
    def decode(self, kind, latent, model_set=DEFAULT_SET, vae=None) -> np.ndarray:
        """/decode: a VAE kind, a latent code (a JSON list of numbers, or a list) and the model set
        ("any", the default, or "palette") -> the image; or any listed VAE named by `vae` (its name or file
        name, e.g. "my-vae.safetensors"), which wins over the kind and set."""
        name = self.explorer.named_vae(kind, model_set, vae)
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
    def controls(self, kind, model_set=DEFAULT_SET, vae=None) -> list:
        """/controls: a VAE chosen (its kind and set, or `vae`): its sliders and code rows at z = 0 and the first category;
        a VAE with no continuous part (discrete: no neutral code, its first categories decode to a blur) at
        the code of the sample digit under "Encode a digit" (ENCODE_DIGIT, index 0, its palette color)."""
        name = self.explorer.named_vae(kind, model_set, vae)
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
    def decoder_map(self, kind, model_set=DEFAULT_SET, vae=None) -> str:
        """The sliders tab's hoverable map of a VAE, for the page (JSON of Explorer.decoder_map)."""
        return json.dumps(self.explorer.decoder_map(self.explorer.named_vae(kind, model_set, vae)))

    @user_errors
    def map_caption(self, kind, model_set=DEFAULT_SET, vae=None) -> str:
        """What the map of a VAE shows (markdown)."""
        vae = self.explorer.vae(self.explorer.named_vae(kind, model_set, vae))
        spec = vae.spec
        n = len(self.explorer.sample_labels)
        if spec.continuous == 2:  # as Explorer.decoder_map: the plane of the two dimensions, no projection
            what = f"the latent plane itself (z0 across, z1 up): the {n:,} sample digits at their posterior means"
        elif spec.continuous:
            what = f"the plane of the first two principal components of the {n:,} sample digits' latent means"
        else:
            what = (f"the plane of the first two principal components of the category probabilities of the {n:,} "
                    f"sample digits' {len(spec.categorical)} variables")
        hover = ("Hover or drag over it: that point decodes in the page at once and the sliders follow (to "
                 "their step of 0.05)" if spec.continuous else "Hover or drag over it: the point stands for a "
                 "probability per category of each variable (negative values clipped, each variable "
                 "renormalised), and the page decodes that mixture of categories at once")
        joint = (" The code stays the one selected above; the digits whose code is another are drawn faded."
                 if spec.continuous and spec.categorical else "")
        encoded = ("" if vae.metadata["training"].get("coloring", "digit") == "digit" else
                   " The digits were encoded in colors of their own (random hues, white or the palette, as this "
                   "VAE trained), so a click loads a digit in its own color, not the dot's.")
        return (f"**Latent map** ({vae.summary}): {what}, each dot a digit in its class's palette color (the key "
                f"below the map). {hover}. Click a dot to load that digit's latent.{encoded}{joint}")

    @user_errors
    def encode_controls(self, kind, model_set, image, vae=None) -> list:
        """"Encode this digit": the controls set to the digit's latent."""
        name = self.explorer.named_vae(kind, model_set, vae)
        return self.set_controls(name, self.explorer.encode(name, model_input(image)))

    @user_errors
    def random_controls(self, kind, model_set, seed, vae=None) -> list:
        """"Random": the controls set to a draw from the prior."""
        name, seed = self.explorer.named_vae(kind, model_set, vae), check_seed(seed)
        return [*self.set_controls(name, self.explorer.prior(name, seed)), (seed + 1) % SEEDS]

    def set_controls(self, name: str, z: torch.Tensor) -> list:
        """Updates for every slider and code row, the note on the latents past those slots, the dimension choice,
        and the latent text, showing z (its continuous values clipped to the sliders' range)."""
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
                if slot == vae.code_variable and vae.code_matched:
                    choices = sorted(((str(vae.code_map[c]), c) for c in range(k)), key=lambda item: item[0])
                    label = ("Code" if len(spec.categorical) == 1 else f"Variable {slot}") + \
                        f" (labeled by the digit it maps to{code_accuracy(vae)})"
                else:
                    choices, label = [(str(c), c) for c in range(k)], f"Variable {slot} · {vae.factor_label(f'v{slot}')}"
                updates.append(gr.update(visible=True, choices=choices, value=int(blocks[slot].argmax()), label=label))
            else:
                updates.append(gr.update(visible=False))
        unslotted = [f"z{d}" for d in vae.order[MAX_SLIDERS:]] + [f"v{j}" for j in range(MAX_CODES, len(spec.categorical))]
        updates.append(f"**{len(unslotted)} latents have no control** (the page has {MAX_SLIDERS} sliders, for the "
                       f"dimensions with the most test KL, and {MAX_CODES} code rows): {', '.join(unslotted)} keep their "
                       f"values in the z shown (0 and the first category after choosing this VAE; a prior draw's or an "
                       f"encoded digit's own). /decode takes every value." if unslotted else "")
        dimensions = [(f"z{d}", d) for d in vae.order]
        updates.append(gr.update(choices=dimensions, value=dimensions[0][1] if dimensions else None,
                                 visible=bool(spec.continuous and spec.categorical)))
        updates.append(json.dumps([round(v, 3) for v in z[0].tolist()]))
        return updates

    @user_errors
    def traversal(self, kind, latent, dimension, model_set=DEFAULT_SET, vae=None) -> tuple[np.ndarray, str]:
        """/traversal: the grid of decoded variations around a latent code, with a caption (for a VAE with two
        continuous dimensions and no code, Kingma & Welling's manifold: Explorer.traversal)."""
        name = self.explorer.named_vae(kind, model_set, vae)
        z = self.latent(name, latent)
        try:
            dimension = int(dimension or 0)
        except (TypeError, ValueError, OverflowError):
            raise ExplorerError(f"The dimension to traverse must be a whole number, not {dimension!r}.") from None
        images, columns, rows = self.explorer.traversal(name, z, dimension)
        values = ", ".join(f"{v:g}" for v in TRAVERSAL_VALUES.tolist())
        vae = self.explorer.vae(name)
        carried = (lambda latent: f"{latent} ({vae.factor_label(latent)})") if vae.factors else str  # noqa: E731
        if is_plane(vae.spec):
            values = MANIFOLD_VALUES.tolist()
            caption = (f"Kingma & Welling's manifold (2014, figure 4): the latent plane decoded on a {len(values)} x "
                       f"{len(values)} grid, z0 across and z1 up, each from {values[0]:.2f} to {values[-1]:.2f} at the "
                       f"prior's quantiles (the inverse Gaussian CDF of an even grid): each cell covers an equal "
                       f"share of the prior N(0, 1).")
        elif not vae.spec.continuous:
            others = [carried("v" + row.removeprefix("variable ")) for row in rows[1:]]
            caption = (f"Rows: {rows[0]}, then the others, the ones that change the picture most first "
                       f"({', '.join(others)}); columns: each category of the row's variable, the other variables "
                       f"as set above. The digit is spread over all {len(rows)} variables: one alone changes it little.")
        elif not vae.spec.categorical:
            caption = f"Rows: {', '.join(carried(row) for row in rows)}; columns: the value {values}."
        else:
            rows_are = "each code of the variable matched to the digits" if vae.code_matched else \
                f"each category of variable {vae.code_variable}"
            caption = f"Rows: {rows_are}; columns: {carried(f'z{int(dimension or 0)}')} = {values}."
        if not vae.factors:
            caption += f" What each latent carries is not measured: python -m train evaluate {shown_path(vae.path)}"
        return grid_picture(images, columns), caption


def page_specs(explorer: Explorer) -> dict:
    """What the page needs to decode each VAE itself (web/explorer.js: configure): its latent layout, slider order,
    factor directions, and its decoder's file on the server (Explorer.page_decoders; null where it did not export:
    the server decodes that VAE)."""
    decoders = explorer.page_decoders()
    return {name: {"continuous": vae.spec.continuous, "order": vae.order, "limit": SLIDER_LIMIT,
                   "categorical": list(vae.spec.categorical),
                   "factors": [[factor, direction.tolist()] for factor, direction in vae.factor_directions.items()][:MAX_FACTORS],
                   "decoder": str(decoders[name]) if name in decoders else None}
            for name, vae in explorer.vaes.items()}


def decoder_specs(explorer: Explorer) -> gr.HTML:
    """The page's decoders, configured as the page loads (web/explorer.js: configure; page_specs): a hidden HTML
    outside the tabs, rendered at once (a tab's components are rendered when it is first shown, and the first z
    is routed at the page's load, before that)."""
    return gr.HTML(json.dumps(page_specs(explorer)), visible="hidden", elem_id="page-decoders",
                   js_on_load=_once_loaded("window.latentExplorer.configure(JSON.parse(props.value));"))


def sliders_tab(app: gr.Blocks, callbacks, sent: gr.Textbox, decoded: gr.Image) -> None:
    """The tab and its events (/controls, /decode, /traversal, /measure_factors). `sent` and `decoded`, outside the
    tabs: the last z the page asked the server to decode, and the server's picture of it."""
    explorer = callbacks.explorer
    with gr.Tab("Latent sliders and codes", id="sliders"):
        with gr.Row():
            with gr.Column(scale=2):
                model = vae_choice(explorer, elem_id="slider-model")  # [kind, model_set, vae]
                sliders = [gr.Slider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0, step=0.05, visible=False,
                                     label=f"z{i}", elem_id=f"slider-{i}") for i in range(MAX_SLIDERS)]
                codes = [gr.Radio([], visible=False, label=f"Variable {j}", elem_id=f"code-{j}")
                         for j in range(MAX_CODES)]
                beyond = gr.Markdown(elem_id="beyond-slots")
            with gr.Column(scale=1, min_width=260):
                gr.HTML("", html_template=DECODED_HTML, elem_id="decoded-image",
                        js_on_load=_once_loaded("window.latentExplorer.attach();"))
                factors = factor_sliders(model)
                latent_plane = gr.HTML("", html_template=MAP_HTML, elem_id="slider-map",
                                       js_on_load=_once_loaded(_MAP_JS))  # drawn when a VAE is chosen
                map_caption = gr.Markdown()
                latent = gr.Textbox(label="z, as /decode receives it", interactive=False, max_lines=3,
                                    elem_id="latent")
                with gr.Row():
                    seed = gr.Number(0, precision=0, label="Seed of the next draw", min_width=80)
                    random = gr.Button("Random (prior)")
                with gr.Accordion("Encode a digit", open=False):
                    encode_source = digit_input(callbacks, "encode", "Digit to encode", digit=ENCODE_DIGIT)
                    encode = gr.Button("Set the sliders from this digit")
                dimension = gr.Dropdown([], label="Dimension to traverse", visible=False,  # /traversal checks it
                                        allow_custom_value=True)
                traverse = gr.Button("Traversal grid")
                grid = picture("Traversal", show_label=False)  # its badge would cover the first row
                caption = gr.Markdown()
    controls = [*sliders, *codes, beyond, dimension, latent]
    kind, model_set, vae = model
    chosen = vae.change
    # the page's load names the default VAE; choosing one sets its controls, then draws (another VAE with the same z
    # leaves the latent text as it was: no change event), its map and its caption
    app.load(None, None, vae, js=f"() => {json.dumps(default_vae(explorer))}")  # in the page: no request
    chosen(callbacks.controls, model, controls, api_name="controls").then(None, [*model, latent, sent], sent, js=_SWITCH_JS)
    chosen(callbacks.decoder_map, model, latent_plane, api_visibility="private")
    chosen(callbacks.map_caption, model, map_caption, api_visibility="private")
    factors.wire(callbacks, chosen, latent)
    random.click(callbacks.random_controls, [kind, model_set, seed, vae], [*controls, seed], api_visibility="private")
    encode.click(callbacks.encode_controls, [kind, model_set, encode_source, vae], controls, api_visibility="private")
    gr.on([s.input for s in sliders] + [c.input for c in codes], None, [*model, *sliders, *codes], latent, js=_LATENT_JS)
    # the page decodes z itself; only where it cannot does `sent` change and the server decode it
    latent.change(None, [*model, latent, sent], sent, js=_ROUTE_JS)
    sent.change(callbacks.decode, [kind, sent, model_set, vae], decoded, api_name="decode", trigger_mode="always_last",
                show_progress="hidden", concurrency_limit=None).then(
        None, [decoded, sent], None, js="(picture, z) => window.latentExplorer?.paintPicture(picture, z)")
    traverse.click(callbacks.traversal, [kind, latent, dimension, model_set, vae], [grid, caption], api_name="traversal")


def _once_loaded(code: str) -> str:
    """A gr.HTML's js_on_load: run `code` (with `element`, `props`, `watch` in scope) once the page script
    web/explorer.js has loaded (the head's scripts may come after the first components render)."""
    return f"(function start() {{ if (!window.latentExplorer) return setTimeout(start, 50); {code} }})();"


# The latent text changed (a slider, a code, a prior draw, an encoded digit): the page draws it and keeps
# `sent` as it is (no server event), or, where it cannot decode, passes z on to `sent`: /decode draws it.
# A VAE's name in the page: the one chosen (`vae`), else its kind and set's suffix (vae_name), as named_vae.
_NAME_JS = f"(vae || kind + {json.dumps({model_set: suffix for model_set, (_, suffix) in MODEL_SETS.items()})}[modelSet])"
_ROUTE_JS = f"""async (kind, modelSet, vae, z, last, newModel = false) => {{
    for (let i = 0; i < 100 && !window.latentExplorer; i++) await new Promise(wait => setTimeout(wait, 50));
    return window.latentExplorer ? await window.latentExplorer.route({_NAME_JS}, z, last, newModel) : z;
}}"""
# The same after another VAE was chosen: where the server decodes, it redraws even an unchanged z.
_SWITCH_JS = f"(kind, modelSet, vae, z, last) => ({_ROUTE_JS})(kind, modelSet, vae, z, last, true)"
# The hoverable map: drawn from the HTML's value (Explorer.decoder_map), redrawn when the model changes.
_MAP_JS = """
const draw = () => window.latentExplorer.map(element, props.value);
draw();
watch('value', draw);
"""


# Browser-side: the slider and code values -> the latent text (web/explorer.js: latentText), drawn by the
# page's decoder; no round trip to the server.
_LATENT_JS = f"""(kind, modelSet, vae, ...values) => window.latentExplorer.controlsMoved({_NAME_JS}, values.slice(0, {MAX_SLIDERS}),
                                                                                   values.slice({MAX_SLIDERS}))"""
