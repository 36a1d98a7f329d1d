"""The Models tab: every VAE's test figures side by side, the rate-distortion plane, and each model's card (metrics,
training facts, curves, KL per dimension, latent map, factor heatmap)."""

from __future__ import annotations

import html

import gradio as gr
import pandas as pd
import torch

from ..data import COLORINGS
from ..explore import MODEL_SETS, VAE_KINDS, elbo_levels, shown_path
from .checks import user_errors
from .glossary import COLORING_MEANINGS, FACTOR_MEANINGS, METRIC_MEANINGS, format_cell, hue_dimensions, percent

CURVES = ("loss", "neg_elbo", "g_adv", "cycle", "identity", "color", "d_color", "d_gray")  # what a training curve plots


class ModelsCallbacks:

    def listed_vaes(self) -> list[tuple[str, str, str]]:
        """The VAEs the comparisons list, in the registry's order: (name, its row's label: the kind for the two
        sets' VAEs, else the name; what it was trained on)."""
        sets = {kind + suffix: (kind, meaning) for meaning, suffix in MODEL_SETS.values() for kind in VAE_KINDS}
        colorings = {"any": MODEL_SETS["any"][0], "digit": MODEL_SETS["palette"][0]}
        return [(name, *sets.get(name, (name, colorings.get(vae.metadata["training"].get("coloring", "digit"),
                                                                   f"trained on {vae.metadata['training'].get('coloring')}"))))
                for name, vae in self.explorer.vaes.items()]

    def compare_sets(self) -> str:
        """Markdown: every VAE (the two sets side by side, then the others), each metric in each coloring of the test
        digits (digit / random / gray), from the weights files' recorded test metrics."""
        rows = []
        for name, label, meaning in self.listed_vaes():
            vae = self.explorer.vae(name)
            colorings = vae.metadata.get("metrics", {}).get("colorings", {})
            each = lambda metric: " / ".join(percent(colorings.get(c, {}).get(metric)) for c in COLORINGS)  # noqa: E731
            hue = colorings.get("random", {}).get("hue_error_median_degrees")
            rows.append(f"| {label} | {meaning} | {each('recon_read_as_label')} | "
                        + (f"{each('code_accuracy')} | " if vae.spec.categorical else "- | ")
                        + (f"{hue:.0f}° |" if hue is not None else "- |"))
        if not rows:
            return ""
        return ("**Every VAE** on the MNIST test set in each coloring (" + " / ".join(COLORINGS)
                + "; judged by the shipped classifier)\n\n| VAE | trained on | reconstruction read as the digit | "
                "code accuracy (its digit variable) | hue kept: median error, random colors |\n|---|---|---|---|---|\n"
                + "\n".join(rows))

    def compare_latents(self) -> str:
        """Markdown: every VAE's latent scores and likelihood bounds in each coloring of the test digits, from the
        weights files (train/evaluate.py: latent_scores); a VAE whose file has none says how to measure them."""
        rows, missing = [], []
        for name, label, meaning in self.listed_vaes():
            vae = self.explorer.vae(name)
            colorings = vae.metadata.get("metrics", {}).get("colorings", {})
            if "mig" not in colorings.get("random", {}):
                missing.append(f"`python -m train evaluate {shown_path(vae.path)}`")
                continue
            for coloring in COLORINGS:
                m = colorings[coloring]
                rows.append(f"| {label} | {meaning} | {coloring} | {m['mig']:.2f} | {m['sap']:.2f} | "
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
        rows = [f"| {name} | {format_cell(value)} |" for name, value in metrics.items()
                if name not in ("kl_per_dimension", "code_map", "test_data", "colorings", *SHOWN_APART)]
        colorings = metrics.get("colorings", {})
        names = [name for name in dict.fromkeys(name for each in colorings.values() for name in each)
                 if name not in ("hue_correlation", *SHOWN_APART)]
        hue = colorings.get("random", {}).get("hue_correlation")
        by_coloring = ("\n\n**In each coloring of the test digits** (`random`: hues from a fixed seed)\n\n| metric | "
                       + " | ".join(colorings) + " |\n|---|" + "---|" * len(colorings) + "\n"
                       + "\n".join(f"| {name} | " + " | ".join(format_cell(each[name]) if name in each else "-"
                                                                 for each in colorings.values()) + " |"
                                    for name in names)) if colorings else ""
        if hue:
            by_coloring += f"\n\n**The dimensions that carry the hue** (`hue_correlation`): {hue_dimensions(hue)}"
        by_coloring += factor_sliders_table(metrics)
        facts = [f"| {name} | {format_cell(training[name])} |" for name in
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
        vae = self.explorer.vaes.get(stem.removeprefix("vae-")) if stem.startswith("vae-") else None
        path = shown_path(vae.path) if vae else f"weights/{stem}.safetensors"
        card = (f"### {stem}\n" + (f"{vae.summary}; file `{path}`.\n\n" if vae else "")
                + f"Test metrics on the {metrics.get('test_data', 'test set')}; written by "
                f"`python -m train evaluate {path}`.\n\n| metric | value |\n|---|---|\n"
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


SHOWN_APART = ("mutual_information", "factor_directions", "factor_purity")  # a heatmap and a table, not cells


def factor_sliders_table(metrics: dict) -> str:
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


ISO_LINES = "-ELBO iso-lines"


def rate_distortion_plot(points: list[dict]) -> gr.ScatterPlot:
    """The rate-distortion plane (Alemi et al. 2018) of the VAEs' points (explorer.explore.rate_distortion): a dot
    per VAE and test coloring, colored by VAE, its tooltip naming the VAE, its test coloring and figures; the
    ELBO's iso-lines (rate + distortion = -ELBO, at explore.elbo_levels) as gray dots."""
    columns = ["rate (nats)", "distortion (nats)", "VAE", "test digits", "-ELBO (nats)"]
    rows = [[round(p["rate"], 2), round(p["distortion"], 2), p["name"], p["coloring"], round(p["neg_elbo"], 1)]
            for p in points]
    levels = elbo_levels(points)
    if points:
        top_rate = 1.1 * max(p["rate"] for p in points)
        low, high = min(p["distortion"] for p in points), max(p["distortion"] for p in points)
        margin = 0.05 * (high - low) + 1
        rows = [[round(rate, 2), round(level - rate, 2), ISO_LINES, "", float(level)] for level in levels
                for rate in torch.linspace(0, top_rate, 40).tolist()
                if low - margin <= level - rate <= high + margin] + rows
    step = levels[1] - levels[0] if len(levels) > 1 else 50
    return gr.ScatterPlot(pd.DataFrame(rows, columns=columns), x="rate (nats)", y="distortion (nats)", color="VAE",
                          elem_id="rate-distortion", color_map={ISO_LINES: "#d0d0d0"}, tooltip=columns,
                          label="Rate-distortion plane (Alemi et al. 2018): every VAE in each coloring of the test digits",
                          caption="rate: the test KL of the posterior from the prior; distortion: the reconstruction's "
                                  "negative log-likelihood (nats per digit); gray: points of equal -ELBO, every "
                                  f"{step} nats (lower left is better). Hover a dot for its VAE.")


def models_tab(app: gr.Blocks, callbacks) -> None:
    """The tab and its event (/model_card)."""
    explorer = callbacks.explorer
    with gr.Tab("Models", id="models"):
        gr.Markdown(callbacks.compare_sets())
        gr.Markdown(callbacks.compare_latents())
        rate_distortion_plot(explorer.rate_distortion())
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
