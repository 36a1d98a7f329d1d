"""The Translate colors tab: the CycleGAN's two directions and cycles, and the hue-conditioned CycleGAN's painting in a
chosen color."""

from __future__ import annotations

import colorsys
import math

import gradio as gr
import tinycss2.color4
import torch

from ..explore import GRAY_SATURATION, ExplorerError
from ..images import to_picture
from .checks import model_input, user_errors
from .components import digit_input, picture


class TranslateCallbacks:

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


def translate_tab(app: gr.Blocks, callbacks) -> None:
    """The tab and its event (/translate)."""
    with gr.Tab("Translate colors", id="translate"):
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                source = digit_input(callbacks, "translate", "Input", digit=4, coloring="gray")
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
        gr.on([source.change, color.change], callbacks.translate, [source, color], [*translated, readings],
              api_name="translate", trigger_mode="always_last", show_progress="hidden").failure(
            callbacks.translation_refused, None, [*translated[4:], readings], api_visibility="private",
            show_progress="hidden")
        app.load(callbacks.translate, [source, color], [*translated, readings], api_visibility="private")
