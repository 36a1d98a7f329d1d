"""The Reconstruct tab: one input digit, every VAE's reconstruction of it, its error and its latent code."""

from __future__ import annotations

import gradio as gr
import torch

from ..explore import MODEL_SETS, VAE_KINDS, Explorer, vae_name
from ..images import error_picture, to_picture
from .checks import model_input, user_errors
from .components import digit_input, picture
from .glossary import carries, code_accuracies
from .worker import in_worker

PER_ROW = 3  # the other VAEs' reconstructions side by side


def shown_vaes(explorer: Explorer) -> list[str]:
    """The VAEs the tab shows, in its order: each set's three (present or not: a missing one says why), then every
    other VAE listed (the 2-D VAE, a user's files)."""
    sets = [vae_name(kind, model_set) for model_set in MODEL_SETS for kind in VAE_KINDS]
    return sets + [name for name in explorer.vaes if name not in sets]


class ReconstructCallbacks:

    @user_errors
    @in_worker
    def reconstruct(self, image) -> list:
        """/reconstruct: for each VAE of the `any` set (continuous, discrete, joint), its reconstruction,
        error map and description; the same nine for the `palette` set; the same three for each other VAE listed
        (shown_vaes); last, the input's reading (the positions of the first nine and of the reading are those of
        the API before the two sets)."""
        x = model_input(image)
        results = self.explorer.reconstruct(x)
        outputs = []
        for name in shown_vaes(self.explorer):
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
            cells = ", ".join(f"z{d}{carries(vae, f'z{d}')} {r.mean[d]:+.2f}±{r.std[d]:.2f}" for d in vae.order)
            lines.append(f"Continuous (mean ± std), most informative first: {cells}")
        if vae.spec.categorical:
            probabilities = r.probabilities[vae.code_variable]
            top = torch.argsort(probabilities, descending=True)[:3]
            unit = "digit" if vae.code_matched else "category"  # a code not matched to the digits claims none
            cells = ", ".join(f"{unit} {vae.code_map[c]} {probabilities[c]:.0%}" for c in top.tolist())
            name = ("Code" if len(vae.spec.categorical) == 1 else f"Variable {vae.code_variable}"
                    + (" (the one matched to digits)" if vae.code_matched else ""))
            accuracy = code_accuracies(vae)
            right = (" (right for " + " / ".join(f"{a:.0%}" for a in accuracy) + " of test digits in the palette "
                     "/ random hues / gray)") if accuracy else ""
            lines.append(f"{name}: {cells}{right}")
        if len(vae.spec.categorical) > 1:
            cells = ", ".join(f"v{j}{carries(vae, f'v{j}')}: {int(p.argmax())} ({float(p.max()):.0%})"
                              for j, p in enumerate(r.probabilities))
            lines.append(f"Each variable's likeliest category (variable: category (probability)): {cells}")
        return "\n\n".join(line for line in lines if line)


def reconstruct_tab(app: gr.Blocks, callbacks) -> None:
    """The tab and its event (/reconstruct), on every VAE in shown_vaes."""
    explorer = callbacks.explorer
    names = shown_vaes(explorer)
    others = names[len(MODEL_SETS) * len(VAE_KINDS):]
    rows = [(f"VAEs {meaning}", [(f"{kind} VAE", kind + suffix) for kind in VAE_KINDS])
            for meaning, suffix in MODEL_SETS.values()]
    rows += [("Other VAEs" if i == 0 else None, [(f"{name} VAE", name) for name in others[i:i + PER_ROW]])
             for i in range(0, len(others), PER_ROW)]
    with gr.Tab("Reconstruct", id="reconstruct"):
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                source = digit_input(callbacks, "reconstruct", "Input, as the models see it")
                reading = gr.Markdown()
            with gr.Column(scale=3):
                outputs = {}
                for title, row in rows:
                    if title:
                        gr.Markdown(f"#### {title}")
                    with gr.Row():
                        for label, name in row:
                            with gr.Column(scale=1, min_width=200):
                                gr.Markdown(f"**{label}**")
                                with gr.Row():
                                    outputs[name] = [picture("Reconstruction", height=150, elem_id=f"reconstruction-{name}"),
                                                     picture("|error|", height=150)]
                                outputs[name].append(gr.Markdown(elem_id=f"description-{name}"))
        reconstructions = [block for name in names for block in outputs[name]] + [reading]
        source.change(callbacks.reconstruct, source, reconstructions, api_name="reconstruct",
                      trigger_mode="always_last", show_progress="hidden")
        app.load(callbacks.reconstruct, source, reconstructions, api_visibility="private")
