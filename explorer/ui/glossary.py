"""The page's words about the models: what each metric, factor and coloring means (with its source), and the small
formats the tabs share for a VAE's latents and figures."""

from __future__ import annotations

from ..data import COLORINGS
from ..explore import FACTOR_MI, HUE_CORRELATION, INACTIVE_KL

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


def carries(vae, latent: str) -> str:
    """" (slant)": the factor a latent carries (LoadedVAE.strongest_factor, at least FACTOR_MI), or ""."""
    found = vae.strongest_factor(latent)
    return f" ({found[0]})" if found and found[1] >= FACTOR_MI else ""


def code_accuracies(vae) -> list[float] | None:
    """How often a VAE's code variable names the digit in each coloring of the test digits (COLORINGS' order;
    the recorded Hungarian-matched code_accuracy), or None where one is not recorded."""
    colorings = vae.metadata["metrics"].get("colorings", {})
    accuracy = [colorings.get(coloring, {}).get("code_accuracy") for coloring in COLORINGS]
    return None if None in accuracy else accuracy


def code_accuracy(vae) -> str:
    """", right for 41-42% of test digits": the range of _code_accuracies, or "" where they are not recorded."""
    accuracy = code_accuracies(vae)
    if not accuracy:
        return ""
    low, high = round(100 * min(accuracy)), round(100 * max(accuracy))
    return f", right for {low}{'' if low == high else f'-{high}'}% of test digits"


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_cell(value) -> str:
    """A value for a markdown table's cell: floats to 4 significant digits, a dict as "key: value; ...",
    "|" escaped."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {format_cell(each)}" for key, each in value.items())
    return str(value).replace("|", "\\|")


def hue_dimensions(correlation: list[float]) -> str:
    """Each continuous dimension's circular correlation with the input's hue (random coloring, [0, 1]) ->
    the dimensions the sliders label "hue", most correlated first: "z12 0.82, z0 0.82 (of 16, with r >= 0.5)"."""
    carry = sorted(((r, d) for d, r in enumerate(correlation) if r >= HUE_CORRELATION), reverse=True)
    return (", ".join(f"z{d} {r:.2f}" for r, d in carry) or "none") + \
        f" (of {len(correlation)}, with r >= {HUE_CORRELATION})"
