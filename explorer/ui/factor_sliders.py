"""The factor sliders beside the sliders tab's picture: each moves z along the direction that best predicts a factor
(thickness, slant, width...) on the test digits, decoded in the page; let go, the picture's factors are measured
(/measure_factors)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np
import torch

from ..explore import DEFAULT_SET, ExplorerError, shown_path
from ..factors import UNITS, factor_change
from .checks import user_errors
from .worker import in_worker

MAX_FACTORS = 6  # factor slider slots (a file's factor_directions: 5 for the shipped VAEs)


class FactorCallbacks:
    @user_errors
    def factor_controls(self, kind, model_set=DEFAULT_SET, vae=None) -> list:
        """A VAE chosen: its factor sliders (each slot: its factor, the R² of its direction and its purity, at 0;
        hidden past the file's factors), a line on what they do or why there are none, and no measures yet."""
        vae = self.explorer.vae(self.explorer.named_vae(kind, model_set, vae))
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
    def measure_factors(self, kind, model_set, start, now, vae=None) -> str:
        """/measure_factors: the factors measured on the pictures that a VAE (its kind and set, or `vae`, as /decode
        takes them) decodes from two latent codes (JSON lists, as /decode takes them): where the factor sliders
        started and what they made (markdown table)."""
        name = self.explorer.named_vae(kind, model_set, vae)
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


@dataclass
class FactorSliders:
    """The factor sliders' components (factor_sliders), for the events that `wire` sets."""

    model: list  # [kind, model_set, vae] (components.vae_choice)
    sliders: list[gr.Slider]
    note: gr.Markdown
    measures: gr.Markdown
    start: gr.Textbox  # where the sliders started (the page fills it through factorTexts)

    def wire(self, callbacks, chosen, latent: gr.Textbox) -> None:
        """A VAE chosen (`chosen`: its choice's change event): its factor sliders; one let go: the factors measured
        (/measure_factors) on the picture it made (`latent`) and on the one it started from."""
        chosen(callbacks.factor_controls, self.model, [*self.sliders, self.note, self.measures], api_visibility="private")
        kind, model_set, vae = self.model
        gr.on([f.release for f in self.sliders], callbacks.measure_factors, [kind, model_set, self.start, latent, vae],
              self.measures, api_name="measure_factors", trigger_mode="always_last", show_progress="hidden",
              js="(kind, modelSet, start, now, vae) => [kind, modelSet, ...(window.latentExplorer?.factorTexts() ?? "
                 "[start, now]), vae]")


def factor_sliders(model: list) -> FactorSliders:
    """The factor sliders' group: a note, MAX_FACTORS slider slots (hidden until a VAE fills them), the measures."""
    with gr.Group():  # beside the picture: what moves it by factor, and what it measures
        note = gr.Markdown(elem_id="factor-note")
        sliders = [gr.Slider(-3, 3, value=0, step=0.1, visible=False, label=f"factor {i}", interactive=True,
                             elem_id=f"factor-{i}") for i in range(MAX_FACTORS)]  # interactive: no event's input
        measures = gr.Markdown(elem_id="factor-measures")
        start = gr.Textbox(visible=False)
    return FactorSliders(model, sliders, note, measures, start)
