"""The Interpolate tab: the decoded path between two digits (or prior draws) in a VAE's latent space."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

from ..explore import DEFAULT_SET, SEEDS, check_seed
from ..images import grid_picture, to_picture, write_gif
from .checks import model_input, user_errors
from .components import default_vae, digit_input, picture, vae_choice


class InterpolateCallbacks:

    @user_errors
    def interpolate(self, kind, start, end, steps, path, seed, model_set=DEFAULT_SET, vae=None) -> tuple:
        """/interpolate: the frames between two endpoints (an image, or a prior draw when empty), by the
        VAE of a kind in a set ("any", the default, or "palette"), or by any listed VAE named by `vae`."""
        name, seed = self.explorer.named_vae(kind, model_set, vae), check_seed(seed or 0)
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


def interpolate_tab(app: gr.Blocks, callbacks) -> None:
    """The tab and its event (/interpolate)."""
    with gr.Tab("Interpolate", id="interpolate"):
        with gr.Row():
            start = digit_input(callbacks, "start", "Start", digit=1, prior=True)
            end = digit_input(callbacks, "end", "End", digit=7, prior=True)
            with gr.Column():
                kind, model_set, vae = vae_choice(callbacks.explorer, elem_id="interpolate-model")
                steps = gr.Slider(2, 32, value=10, step=1, label="Steps")
                path = gr.Radio(["linear", "spherical"], value="linear", label="Path",
                                info="spherical: slerp on the continuous part")
                seed = gr.Number(0, precision=0, label="Seed of the prior draws")
                go = gr.Button("Interpolate", variant="primary")
        strip = picture("Path, start to end", height=140, elem_id="strip")
        with gr.Row():
            gif = gr.Image(label="Animated GIF (download)", type="filepath", format="gif",
                           interactive=False, buttons=["download"], height=200)
            with gr.Column():
                frames = gr.State()
                scrub = gr.Slider(0, 9, value=0, step=1, label="Scrub through the path")
                frame = picture("Frame", height=200)
        interpolation = ([kind, start, end, steps, path, seed, model_set, vae], [strip, gif, frames, scrub, frame])
        # the page's load names the default VAE, whose change draws the first path
        gr.on([go.click, start.change, end.change, vae.change, steps.release, path.change, seed.input],
              callbacks.interpolate, *interpolation, api_name="interpolate", trigger_mode="always_last")
        app.load(None, None, vae, js=f"() => {json.dumps(default_vae(callbacks.explorer))}")  # in the page
        scrub.input(callbacks.frame, [frames, scrub], frame, api_visibility="private",
                    trigger_mode="always_last", show_progress="hidden", concurrency_limit=None)
