"""The beta Lab tab: one 2-D VAE trained at several betas, watched as it trains, all drawn in the page (web/lab.js)
from the files `python -m train lab` wrote (web/lab/): no request to the server when a slider moves."""

from __future__ import annotations

import html

import gradio as gr

from ..data import PALETTE
from ..lab import LabError, read_lab, regions

INTRO = """### The beta Lab: what beta does to a latent space, and how it forms during training
The same VAE, with a 2-D latent, trained on digits in any color at several values of beta, the KL's weight in
the loss (beta-VAE, Higgins et al. 2017). Move **beta** to go along the trade-off between rate (the nats a code
carries about its digit: KL(q(z|x) || p(z))) and distortion (-log p(x|z)), and **training time** (or **Play**) to
watch one run learn, from the untrained model to its last step. Two dimensions hold a coarse shape, not the hue:
the reconstructions are gray. The figures are on the MNIST test set (random hues); everything is drawn in this page
from the family's files."""


def lab_html(lab: dict, start: int) -> str:
    """The Lab's controls, canvases and captions (web/lab.js draws into them; each region's caption shows while
    beta is in it). `start`: the member shown first (its index)."""
    captions = "".join(f'<p class="lab-region" data-members="{",".join(map(str, r.members))}" hidden>'
                       f'{html.escape(r.caption)}</p>' for r in regions(lab))
    key = " ".join(f'<span style="color:{color}">&#9679;</span>&nbsp;{digit}' for digit, color in enumerate(
        "#%02x%02x%02x" % PALETTE[d] for d in range(10)))
    n = round(len(lab["grid"]) ** 0.5)
    count = len(lab["digits"]["reconstructed"])
    return f"""<div id="beta-lab" data-start-beta="{start}">
<div class="lab-controls">
 <label>beta <input class="lab-beta" type="range" min="0" max="{len(lab['family']) - 1}" step="1" value="{start}"
   aria-label="beta"> <output class="lab-beta-value"></output></label>
 <label>training time <input class="lab-time" type="range" min="0" max="0" step="1" value="0"
   aria-label="training time"> <output class="lab-time-value"></output></label>
 <button class="lab-play" type="button">&#9654; Play</button>
</div>
<div class="lab-regions">{captions}</div>
<p class="lab-figures-now"></p>
<div class="lab-figures">
 <figure><canvas class="lab-map" width="300" height="300" aria-label="Latent map"></canvas>
  <figcaption>The posterior means of {len(lab['digits']['labels'])} test digits by class: {key}; on the same axes
  at every training time of a beta; dashed: the grid's square.</figcaption></figure>
 <figure><canvas class="lab-grid" width="{n * 28}" height="{n * 28}" aria-label="Manifold grid"></canvas>
  <figcaption>The decoder on a {n} x {n} grid at the prior's quantiles (Kingma &amp; Welling 2014).</figcaption></figure>
 <figure><canvas class="lab-rd" width="360" height="300" aria-label="Rate-distortion plane"></canvas>
  <figcaption>Rate (KL, the code's nats) against distortion (-log p(x|z)), nats per MNIST test digit (Alemi et al.
  2018; measured by <code>python -m train lab</code>). Gray: the family's curve (each beta at the end of training).
  Blue: this run's path during training. Red: the snapshot shown.</figcaption></figure>
 <figure><canvas class="lab-recon" width="{count * 28}" height="56" aria-label="Reconstructions"></canvas>
  <figcaption>Test digits (top) and their reconstructions (from the posterior mean).</figcaption></figure>
 <figure><canvas class="lab-kl" width="260" height="70" aria-label="KL per dimension"></canvas>
  <figcaption>KL of each latent dimension (nats per MNIST test digit).</figcaption></figure>
</div>
<p class="lab-status">Loading the family's decoders...</p>
</div>"""


def lab_tab() -> None:
    """The tab's layout. Without the family's file it says how to make it."""
    with gr.Tab("beta Lab", id="lab"):
        gr.Markdown(INTRO)
        try:
            lab = read_lab()
        except LabError as error:
            gr.Markdown(f"**{error}**")
            return
        gr.HTML(lab_html(lab, start=len(lab["family"]) // 2), elem_id="beta-lab-html")
