"""Test-set metrics of each kind of model, printed as a table and recorded in the weights file."""

from __future__ import annotations

import copy
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch.nn.utils.fusion import fuse_conv_bn_eval

from explorer.data import (COLORINGS, TEST_COLOR_SEED, ColoredMNIST, hue_error_degrees, hue_to_rgb, image_hues, in_coloring, load_mnist,
                           load_sample_pack, rgb_to_hsv)
from explorer.disentanglement import BINS, factor_directions, score
from explorer.explore import INACTIVE_KL
from explorer.factors import (DISCRETE, FACTORS, digit_factors, factor_change, morphometrics_of_test_digits,
                              picture_factors)
from explorer.vae import active_units, importance_log_weights, kl_gaussian, kl_terms, reconstruction_nll
from explorer.weights import load_model, read_metadata, update_metrics

CLASSIFIER = Path(__file__).resolve().parent.parent / "weights" / "classifier.safetensors"
TOGGLE_IMAGES = 2000  # toggle fidelity: the first 2,000 test digits, each decoded with every code


def for_inference(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the model in eval mode, each convolution followed by batch norm folded into one
    convolution (torch.nn.utils.fusion.fuse_conv_bn_eval: the same function up to rounding; in fp32 the
    classifier's logits within 1e-5 and the same reading of all 30,000 test images in the three colorings),
    with channels_last (NHWC) weights, whose convolutions then take NCHW or NHWC images. On
    the CPU in fp32 (batches of 1,000, 2 cores of an AMD EPYC): the classifier 625-695 ms as trained,
    358-382 ms in channels_last, 190-217 ms folded too; a VAE's forward 638-645 -> 322-365 ms. The model
    given is left as it is (a weights file stores contiguous tensors)."""
    model = copy.deepcopy(model).eval()
    for block in [module for module in model.modules() if isinstance(module, torch.nn.Sequential)]:
        layers = list(block)
        for i, (conv, norm) in enumerate(zip(layers, layers[1:])):
            if isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d):
                block[i], block[i + 1] = fuse_conv_bn_eval(conv, norm), torch.nn.Identity()
    return model.to(memory_format=torch.channels_last)


def test_digits(data_dir=None, sample_pack: bool = False) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The test images and labels (uint8, int64) and a description of where they came from."""
    if sample_pack:
        images, labels = load_sample_pack()
        return images, labels, f"sample pack ({len(labels)} MNIST test digits)"
    images, labels = load_mnist("test", data_dir)
    return images, labels, f"MNIST test set ({len(labels)} images)"


@torch.no_grad()
def predict(model, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's reading of every image, in batches."""
    return torch.cat([model.predict(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def read_accuracy(classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of images that the classifier reads as their label."""
    return (predict(classifier, images) == labels).float().mean().item()


def evaluate_classifier(model, images, labels, coloring=None) -> dict[str, float]:
    """Accuracy in each coloring."""
    metrics = {}
    for coloring in COLORINGS:
        metrics[f"accuracy_{coloring}"] = read_accuracy(model, in_coloring(images, labels, coloring), labels)
    return metrics


def match_codes(codes: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[float, list[int]]:
    """Unsupervised accuracy of a k-way code: the one-to-one code -> digit map (Hungarian matching)
    that agrees with the most labels, and the share of images it gets right."""
    counts = np.zeros((k, 10), dtype=np.int64)
    np.add.at(counts, (codes.numpy(), labels.numpy()), 1)
    rows, cols = linear_sum_assignment(-counts)
    mapping = [-1] * k  # codes left over when k > 10 map to no digit
    for code, digit in zip(rows, cols):
        mapping[code] = int(digit)
    return counts[rows, cols].sum() / len(labels), mapping


def evaluate_vae(model, images, labels, coloring: str, batch_size: int = 1000, code_variable: int | None = None) -> dict:
    """Test ELBO and its parts, reconstruction quality, KL per dimension, and for 10-way codes their
    clustering accuracy, code -> digit map and toggle fidelity (both judged by the classifier), for the
    categorical variable `code_variable`, or if None the 10-way variable whose code matches the digits best
    (recorded as `code_variable`)."""
    classifier = for_inference(load_model(CLASSIFIER))
    spec = model.spec
    sums = {"neg_elbo": 0.0, "recon_nll": 0.0, "kl_continuous": 0.0, "kl_discrete": 0.0, "recon_bce": 0.0,
            "recon_mse": 0.0, "recon_read_as_label": 0.0}
    kl_dims, codes, latents = torch.zeros(spec.continuous), [], []
    x_all = in_coloring(images, labels, coloring)
    for start in range(0, len(labels), batch_size):
        x, y = x_all[start:start + batch_size], labels[start:start + batch_size]
        post = model.encode(x)
        kl_c = kl_gaussian(post.mean, post.log_var)
        kl_d = kl_terms(post)[1]
        nll = reconstruction_nll(model.decoder(model.sample_latent(post, 1.0, hard=True)), x)  # exact sample
        z = model.latent(x)
        recon = model.decode(z)
        sums["neg_elbo"] += (nll + kl_c.sum(1) + kl_d).sum().item()
        sums["recon_nll"] += nll.sum().item()
        sums["kl_continuous"] += kl_c.sum().item()
        sums["kl_discrete"] += kl_d.sum().item()
        sums["recon_bce"] += F.binary_cross_entropy(recon, x, reduction="sum").item()
        sums["recon_mse"] += F.mse_loss(recon, x, reduction="sum").item() / x[0].numel()
        sums["recon_read_as_label"] += (classifier.predict(recon) == y).sum().item()
        kl_dims += kl_c.sum(0)
        codes.append(torch.stack([l.argmax(1) for l in post.logits], 1) if post.logits else None)
        latents.append(z)
    n = len(labels)
    metrics = {name: value / n for name, value in sums.items()}
    kl_dims = kl_dims / n
    metrics["kl_per_dimension"] = [round(v, 4) for v in kl_dims.tolist()]
    metrics["active_dimensions"] = int((kl_dims >= INACTIVE_KL).sum())
    ten_way = [i for i, k in enumerate(spec.categorical) if k == 10]
    if ten_way:
        codes = torch.cat(codes)
        scores = {i: match_codes(codes[:, i], labels, 10) for i in ten_way}
        best = code_variable if code_variable is not None else max(scores, key=lambda i: scores[i][0])
        metrics["code_variable"] = best
        metrics["code_accuracy"], metrics["code_map"] = float(scores[best][0]), scores[best][1]
        metrics["toggle_fidelity"] = toggle_fidelity(model, classifier, torch.cat(latents)[:TOGGLE_IMAGES], best,
                                                     scores[best][1])
    return metrics


STROKE = 0.3  # a pixel whose brightest channel is above this belongs to the digit's stroke
# recorded in each test coloring (the rate and distortion too: explorer.explore.rate_distortion)
IN_EVERY_COLORING = ("neg_elbo", "recon_nll", "kl_continuous", "kl_discrete", "recon_read_as_label", "code_accuracy",
                     "toggle_fidelity")


def evaluate_vae_in_colorings(model, images, labels, coloring: str) -> dict:
    """evaluate_vae in the coloring the VAE was trained on, and under `colorings` the main metrics in each
    coloring of the test digits (`digit`, `random` with the fixed test seed, `gray`): {coloring:
    {neg_elbo, recon_nll, kl_continuous, kl_discrete, recon_read_as_label, code_accuracy, toggle_fidelity}}; for `random` also the median angle
    (degrees) between each input's hue and its reconstruction's (`hue_error_median_degrees`) and each
    continuous dimension's circular correlation with the input's hue (`hue_correlation`), for models with
    a continuous part, and, for a 10-way code, the share of digits whose code is the same when the digit
    is painted in two different random hues (`same_code_two_hues`); for `gray` how much color the
    reconstructions of gray digits gain (gray_kept); the seeds of the random colorings under
    `coloring_seeds`. Every coloring's code figures are those of one variable: the one matched to the digits
    in the training coloring (`code_variable`, the variable the app shows)."""
    metrics = evaluate_vae(model, images, labels, coloring)
    code_variable = metrics.get("code_variable")
    metrics["coloring_seeds"] = {"random": TEST_COLOR_SEED, "random, the second hue": TEST_COLOR_SEED + 1}
    metrics["colorings"] = {}
    for each in COLORINGS:
        found = metrics if each == coloring else evaluate_vae(model, images, labels, each, code_variable=code_variable)
        summary = {name: found[name] for name in IN_EVERY_COLORING if name in found}
        if each == "random":
            summary.update(hue_kept(model, images, labels, code_variable=code_variable))
        if each == "gray":
            summary.update(gray_kept(model, images, labels))
        metrics["colorings"][each] = summary
    return metrics


@torch.no_grad()
def hue_kept(model, images, labels, batch_size: int = 1000, code_variable: int | None = None) -> dict[str, float]:
    """For digits in random hues: if the model has a continuous part, the median angle (degrees) between
    each input's hue and its reconstruction's (both the circular mean hue of the input's stroke pixels)
    and each continuous dimension's circular correlation with the input's hue (`hue_correlation`, (D,)
    in [0, 1]: which dimensions carry the hue); given a 10-way categorical variable `code_variable`, the
    share of digits whose category in it is the same in two hues (`same_code_two_hues`)."""
    first, second = in_coloring(images, labels, "random"), in_coloring(images, labels, "random", TEST_COLOR_SEED + 1)
    kept, hues, errors, means, same = {}, [], [], [], []
    for start in range(0, len(labels), batch_size):
        x, x2 = first[start:start + batch_size], second[start:start + batch_size]
        stroke = x.amax(1) > STROKE
        post, logits2 = model.encode(x), model.encode(x2).logits
        hues.append(image_hues(x, stroke))
        errors.append(hue_error_degrees(hues[-1], image_hues(model.decode(model.posterior_mode(post)), stroke)))
        means.append(post.mean)
        if code_variable is not None:
            same.append(post.logits[code_variable].argmax(1) == logits2[code_variable].argmax(1))
    if model.spec.continuous:
        kept["hue_error_median_degrees"] = torch.cat(errors).median().item()
        kept["hue_correlation"] = [round(r, 4) for r in circular_correlation(torch.cat(means), torch.cat(hues)).tolist()]
    if same:
        kept["same_code_two_hues"] = torch.cat(same).float().mean().item()
    return kept


@torch.no_grad()
def gray_kept(model, images, labels, batch_size: int = 1000, tinted: float = 0.1) -> dict[str, float]:
    """For gray digits (R = G = B): how much color their reconstructions gain. `residual_chroma`: the mean
    over the input's stroke pixels of max(|R-G|, |G-B|, |R-B|) in the reconstruction (0 to 1; 0 when it
    is gray too); `tinted_share`: the share of digits whose stroke's mean chroma is above `tinted`
    (0.1: a faint but visible tint, e.g. (1, 0.9, 0.9))."""
    x_all = in_coloring(images, labels, "gray")
    chroma, stroke_pixels = [], []
    for start in range(0, len(labels), batch_size):
        x = x_all[start:start + batch_size]
        stroke = (x.amax(1) > STROKE).float()
        chroma.append((pixel_chroma(model.decode(model.latent(x))) * stroke).sum((1, 2)))
        stroke_pixels.append(stroke.sum((1, 2)))
    chroma, stroke_pixels = torch.cat(chroma), torch.cat(stroke_pixels)
    return {"residual_chroma": (chroma.sum() / stroke_pixels.sum()).item(),
            "tinted_share": (chroma / stroke_pixels.clamp_min(1) > tinted).float().mean().item()}


def circular_correlation(values: torch.Tensor, hues: torch.Tensor) -> torch.Tensor:
    """The circular-linear correlation (Mardia 1976; Jammalamadaka & SenGupta 2001, eq. 8.2.2) between each
    column of `values` (N, D) and an angle given as hues in [0, 1) (N,): (D,) in [0, 1]; 1 when the column
    is a sinusoid of the angle, 0 when it does not depend on it."""
    angle = hues.double() * 2 * torch.pi
    columns = torch.cat([values.double(), angle.cos()[:, None], angle.sin()[:, None]], 1)
    r = torch.corrcoef(columns.T)
    r_xc, r_xs, r_cs = r[:-2, -2], r[:-2, -1], r[-2, -1]
    return ((r_xc**2 + r_xs**2 - 2 * r_xc * r_xs * r_cs) / (1 - r_cs**2)).clamp(0, 1).sqrt().float()


def toggle_fidelity(model, classifier, z: torch.Tensor, variable: int, code_map: list[int], batch_size=1000) -> float:
    """Decode every latent with each of the variable's codes in turn (the rest unchanged) and count how
    often the classifier reads the digit the code maps to."""
    spec = model.spec
    start = spec.continuous + sum(spec.categorical[:variable])
    k = spec.categorical[variable]
    hits = 0
    for code in range(k):
        toggled = z.clone()
        toggled[:, start:start + k] = F.one_hot(torch.tensor(code), k).to(z.dtype)
        for i in range(0, len(z), batch_size):
            hits += (classifier.predict(model.decode(toggled[i:i + batch_size])) == code_map[code]).sum().item()
    return hits / (k * len(z))


def color_statistics(images: torch.Tensor, foreground: torch.Tensor, bins: int = 36) -> dict[str, float]:
    """Mean foreground saturation, and the entropy (nats) of the histogram of each image's hue:
    log(36) = 3.58 for hues spread evenly, 0 for one color for all."""
    _, saturation, _ = rgb_to_hsv(images)
    weight = foreground.float()
    counts = torch.bincount((image_hues(images, foreground) * bins).long().clamp(max=bins - 1), minlength=bins).float()
    p = counts / counts.sum()
    return {"saturation": (saturation * weight).sum().item() / weight.sum().item(),
            "hue_entropy": -(p[p > 0] * p[p > 0].log()).sum().item()}


def pixel_chroma(images: torch.Tensor) -> torch.Tensor:
    """max(|R-G|, |G-B|, |R-B|) of each pixel of images (N, 3, H, W) in [0, 1]: (N, H, W), 0 where gray."""
    r, g, b = images.unbind(1)
    return torch.stack([(r - g).abs(), (g - b).abs(), (r - b).abs()]).amax(0)


def residual_chroma(images: torch.Tensor, foreground: torch.Tensor) -> float:
    """Mean over foreground pixels of pixel_chroma: 0 for a truly gray image."""
    return (pixel_chroma(images) * foreground).sum().item() / foreground.sum().item()


def evaluate_cyclegan(model, images, labels, coloring=None, batch_size: int = 500) -> dict:
    """Digit kept (classifier accuracy) in both directions, color (saturation, hue spread, residual
    chroma of gray outputs), cycle and identity L1 on the test set: A gray, B in random colors.
    The hue error of to_color against an asked random hue per digit: what a hue-conditioned model is
    for; a plain one ignores the ask (about 90 degrees, chance), reported for comparison."""
    classifier = for_inference(load_model(CLASSIFIER))
    gray = in_coloring(images, labels, "gray")
    colored_set = ColoredMNIST(images, labels, "random", seed=TEST_COLOR_SEED)
    colored, own = colored_set[torch.arange(len(labels))][0], colored_set.colors
    asked_hues = torch.rand(len(labels), generator=torch.Generator().manual_seed(TEST_COLOR_SEED + 1))
    asked = hue_to_rgb(asked_hues)
    paint = (lambda x, color: model.to_color(x, color)) if model.config.hue_conditioned else \
        (lambda x, color: model.to_color(x))
    outputs = {name: [] for name in ("to_color", "to_gray", "cycle_a", "cycle_b", "same_b", "same_a")}
    for i in range(0, len(labels), batch_size):
        a, b, part = gray[i:i + batch_size], colored[i:i + batch_size], slice(i, i + batch_size)
        fake_b, fake_a = paint(a, asked[part]), model.to_gray(b)
        for name, x in zip(outputs, (fake_b, fake_a, model.to_gray(fake_b), paint(fake_a, own[part]),
                                     paint(b, own[part]), model.to_gray(a))):
            outputs[name].append(x)
    out = {name: torch.cat(x) for name, x in outputs.items()}
    foreground = images.float() / 255 > 0.5  # the strokes of each test digit
    real_colors = color_statistics(colored, foreground)
    fake_colors = color_statistics(out["to_color"], foreground)
    hue_error = hue_error_degrees(asked_hues, image_hues(out["to_color"], foreground))
    accuracy = lambda x: read_accuracy(classifier, x, labels)  # noqa: E731
    return {
        "accuracy_real_gray": accuracy(gray), "accuracy_real_color": accuracy(colored),
        "accuracy_to_color": accuracy(out["to_color"]), "accuracy_to_gray": accuracy(out["to_gray"]),
        "to_color_saturation": fake_colors["saturation"], "real_color_saturation": real_colors["saturation"],
        "to_color_hue_entropy": fake_colors["hue_entropy"], "real_color_hue_entropy": real_colors["hue_entropy"],
        "hue_error_mean_degrees": hue_error.mean().item(), "hue_error_median_degrees": hue_error.median().item(),
        "hue_error_p95_degrees": hue_error.quantile(0.95).item(),
        "to_gray_residual_chroma": residual_chroma(out["to_gray"], foreground),
        "cycle_l1_gray": F.l1_loss(out["cycle_a"], gray).item(), "cycle_l1_color": F.l1_loss(out["cycle_b"], colored).item(),
        "identity_l1_color": F.l1_loss(out["same_b"], colored).item(), "identity_l1_gray": F.l1_loss(out["same_a"], gray).item(),
    }


IWAE_SAMPLES = 500  # K, the draws of the importance-weighted bound per digit
IWAE_DIGITS = 500  # test digits it is averaged over (with its standard error), spread evenly: 28 s per coloring
IWAE_BATCH = 100  # digits whose draws are decoded together (10,000 pictures: 3.9 GB resident at 500)
SLIDER_FACTORS = ("thickness", "slant", "width", "height", "brightness")  # the app's factor sliders (the hue is an
# angle: no one direction of the latent space turns it round the circle; the digit has the code where there is one)
PURITY_DIGITS = 100  # the test digits (spread evenly) each factor direction is tried on ...
PURITY_STEP = 2.0  # ... moved this far along it (unit vector in z; the prior's standard deviation is 1)
QUICK_DIGITS = {"iwae": 50, "purity": 20}  # a quick check on the sample pack (its metrics are not recorded)


@torch.no_grad()
def latent_scores(model, images, labels, morphometrics: np.ndarray, coloring: str, iwae_digits: int = IWAE_DIGITS,
                  batch_size: int = 1000) -> dict:
    """What the latent code of the test digits in one coloring carries (explorer/disentanglement.py, the
    factors of explorer/factors.py): `mutual_information` ({latents, factors, table}: each continuous
    dimension's posterior mean z<d> and each categorical variable's likeliest category v<j> against each
    factor that varies, I(z; v) / H(v), 20 bins), `mig`, `sap`, `dci_disentanglement`, `dci_completeness`,
    `dci_informativeness`, over the digits whose factors are all known (a gray or white digit has no hue: where
    some are, the scores are those of the others), leaving out the factors a coloring does not vary (the gray
    coloring's hue and brightness); the importance-weighted bound (IWAE_SAMPLES draws, `iwae_digits` digits
    spread over the set: spread_evenly) as `neg_iwae` with its standard error `neg_iwae_se` (nats per image)
    and `iwae_gap`, how much tighter it is than the ELBO estimated from the same draws; `active_units` (Burda
    et al.: Var_x E_q[z_u|x] > 0.01). images uint8 (N, 28, 28), labels int64 (N,), morphometrics (N, 6)."""
    colored = ColoredMNIST(images, labels, coloring, seed=TEST_COLOR_SEED)
    x = colored[torch.arange(len(labels))][0]
    posts = [model.encode(x[i:i + batch_size]) for i in range(0, len(labels), batch_size)]
    means = torch.cat([post.mean for post in posts])
    codes = [torch.cat([post.logits[j].argmax(1) for post in posts]) for j in range(len(model.spec.categorical))]
    latents = np.column_stack([means.double().numpy(), *[code.numpy() for code in codes]])
    names = [f"z{d}" for d in range(model.spec.continuous)] + [f"v{j}" for j in range(len(codes))]
    factors = digit_factors(morphometrics, labels, colored.colors)
    # the factors this coloring varies (not all NaN: a gray digit's hue; not constant: the random hues' brightness)
    known = [k for k in range(len(FACTORS))
             if np.nanmax(factors[:, k], initial=-np.inf) > np.nanmin(factors[:, k], initial=np.inf)]
    rows = ~np.isnan(factors[:, known]).any(1)
    scores = score(latents[rows], factors[rows][:, known], [FACTORS[k] in DISCRETE for k in known],
                   [False] * model.spec.continuous + [True] * len(codes))
    some = x[spread_evenly(len(labels), iwae_digits)]
    n, generator = len(some), torch.Generator().manual_seed(0)
    log_weights = torch.cat([importance_log_weights(model, some[i:i + IWAE_BATCH], IWAE_SAMPLES, generator=generator)
                             for i in range(0, n, IWAE_BATCH)], 1)  # (K, n), IWAE_BATCH digits x 100 draws decoded at once
    iwae = torch.logsumexp(log_weights, 0) - math.log(IWAE_SAMPLES)
    return {"mig": scores.mig, "sap": scores.sap, "dci_disentanglement": scores.dci_disentanglement,
            "dci_completeness": scores.dci_completeness, "dci_informativeness": scores.dci_informativeness,
            "neg_iwae": -iwae.mean().item(), "neg_iwae_se": (iwae.std() / math.sqrt(n)).item(),
            "iwae_gap": (iwae - log_weights.mean(0)).mean().item(),
            "active_units": active_units(means) if model.spec.continuous else 0,
            "mutual_information": {"latents": names, "factors": [FACTORS[k] for k in known],
                                   "table": np.round(scores.mutual_information, 4).tolist()}}


@torch.no_grad()
def factor_sliders(model, images, labels, morphometrics: np.ndarray, coloring: str, kl_per_dimension: list[float],
                   purity_digits: int = PURITY_DIGITS, batch_size: int = 1000) -> dict:
    """The factor sliders of a VAE with a continuous part, fitted on the test digits in its training coloring:
    `factor_directions` ({factors: SLIDER_FACTORS, directions: unit vectors (K, continuous) from
    disentanglement.factor_directions over the dimensions with KL >= INACTIVE_KL, the codes held as they are,
    r2: the share of the factor each explains beyond the codes}) and
    `factor_purity`: `purity_digits` digits' codes (spread_evenly) moved PURITY_STEP along each direction and decoded,
    each factor measured on the pictures before and after (factors.picture_factors): {factor: {moved: the
    mean change of every measured factor in test-set standard deviations, purity: |the factor's own change| /
    the sum of every |change|, in [0, 1]; 1 when the direction moves its factor alone}}."""
    colored = ColoredMNIST(images, labels, coloring, seed=TEST_COLOR_SEED)
    x = colored[torch.arange(len(labels))][0]
    posts = [model.encode(x[i:i + batch_size]) for i in range(0, len(labels), batch_size)]
    means = torch.cat([post.mean for post in posts])
    codes = torch.cat([model.posterior_mode(post)[:, model.spec.continuous:] for post in posts])  # one-hot blocks
    factors = digit_factors(morphometrics, labels, colored.colors)
    wanted = [FACTORS.index(name) for name in SLIDER_FACTORS]
    directions, r2 = factor_directions(means.numpy(), factors[:, wanted], np.array(kl_per_dimension) >= INACTIVE_KL,
                                       codes.numpy() if model.spec.categorical else None)
    measured = FACTORS[1:]  # what picture_factors measures: every factor but the digit
    with warnings.catch_warnings():  # a factor the coloring does not vary (gray's hue, random's brightness)
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanstd(factors[:, 1:], axis=0)
    spread = np.where(spread > 0, spread, np.nan)  # ... has no standard deviation to count changes in: left out
    z = model.latent(x[spread_evenly(len(labels), purity_digits)])
    before = picture_factors(model.decode(z))
    purity = {}
    for name, direction in zip(SLIDER_FACTORS, directions):
        if not direction.any():
            continue
        moved_z = z.clone()
        moved_z[:, :model.spec.continuous] += PURITY_STEP * torch.from_numpy(direction).float()
        change = factor_change(before, picture_factors(model.decode(moved_z)))
        with warnings.catch_warnings():  # a factor no picture has (the hue of gray digits) stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            shift = np.nanmean(change, axis=0) / spread
        size = np.abs(np.nan_to_num(shift))
        purity[name] = {"moved": {m: round(float(v), 4) for m, v in zip(measured, shift) if np.isfinite(v)},
                        "purity": round(float(size[measured.index(name)] / size.sum()), 4) if size.sum() > 0 else 0.0}
    return {"factor_directions": {"factors": list(SLIDER_FACTORS), "directions": np.round(directions, 5).tolist(),
                                  "r2": np.round(r2, 4).tolist()},
            "factor_purity": purity}


def spread_evenly(n: int, count: int) -> torch.Tensor:
    """`count` indices of n digits spread evenly over them (all n if count >= n): MNIST's test set holds its
    easier half first (the first 5,000 digits were written by Census Bureau employees, the rest by students;
    the first 500 digits' ELBO is 13 nats better than the set's), so a subsample is taken across it."""
    return torch.arange(n) if count >= n else torch.linspace(0, n - 1, count).round().long()


def add_latent_scores(metrics: dict, model, images, labels, morphometrics: np.ndarray, coloring: str,
                      iwae_digits: int = IWAE_DIGITS, purity_digits: int = PURITY_DIGITS) -> dict:
    """Add latent_scores to a VAE's metrics (from evaluate_vae_in_colorings) in its training coloring and in
    each test coloring, and, for a VAE with a continuous part, its factor_sliders; with what they used
    (`iwae_samples`, `iwae_digits`, `purity_digits`, `factor_bins`). Returns metrics."""
    metrics.update(latent_scores(model, images, labels, morphometrics, coloring, iwae_digits))
    for each, summary in metrics["colorings"].items():
        found = metrics if each == coloring else latent_scores(model, images, labels, morphometrics, each, iwae_digits)
        summary.update({name: found[name] for name in LATENT_SCORES})
    if model.spec.continuous:
        metrics.update(factor_sliders(model, images, labels, morphometrics, coloring, metrics["kl_per_dimension"],
                                      purity_digits))
    metrics.update(iwae_samples=IWAE_SAMPLES, iwae_digits=min(iwae_digits, len(labels)),
                   purity_digits=min(purity_digits, len(labels)), factor_bins=BINS)
    return metrics


LATENT_SCORES = ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness", "neg_iwae",
                 "neg_iwae_se", "iwae_gap", "active_units", "mutual_information")
EVALUATORS = {"classifier": evaluate_classifier, "vae": evaluate_vae_in_colorings, "cyclegan": evaluate_cyclegan}


def evaluate(model, coloring: str | None = None, data_dir=None, sample_pack: bool = False) -> dict:
    """The test metrics of a model (in the coloring it was trained on), with the data they were measured on and
    the seconds the evaluation took. The classifier is measured in every coloring, whatever it was trained on; a
    VAE also gets its latent scores (add_latent_scores; on the sample pack, IWAE and purity on QUICK_DIGITS)."""
    start = time.perf_counter()
    images, labels, source = test_digits(data_dir, sample_pack)
    coloring = None if model.kind == "classifier" else coloring
    torch.manual_seed(0)  # the ELBO's latent samples: the same metrics from every evaluation of a file
    with torch.inference_mode():
        model = for_inference(model)
        metrics = EVALUATORS[model.kind](model, images, labels, coloring)
        if model.kind == "vae":
            sizes = (QUICK_DIGITS["iwae"], QUICK_DIGITS["purity"]) if sample_pack else (IWAE_DIGITS, PURITY_DIGITS)
            add_latent_scores(metrics, model, images, labels, morphometrics_of_test_digits(labels, sample_pack), coloring,
                              *sizes)
    return {**metrics, "test_data": source + (f", {coloring} coloring" if coloring else ""),
            "evaluation_seconds": round(time.perf_counter() - start, 1)}


def evaluate_file(path, data_dir=None, sample_pack: bool = False) -> dict:
    """Evaluate a weights file; metrics measured on the full test set are recorded in its metadata
    (those of a quick check on the sample pack are not)."""
    meta = read_metadata(path)  # a clear error for a bad file before any data is read
    metrics = evaluate(load_model(path), meta["training"].get("coloring"), data_dir, sample_pack)
    if not sample_pack:
        update_metrics(path, metrics)
    return metrics


TABLES = ("colorings", "mutual_information", "factor_directions", "factor_purity")  # recorded in the file, not printed


def format_table(title: str, metrics: dict) -> str:
    """Metrics as a two-column text table (fractions in [0, 1] named accuracy_* shown as percent)."""
    percent = ("accuracy", "code_accuracy", "toggle_fidelity", "recon_read_as_label", "same_code", "tinted_share")
    shown = lambda name, value: (f"{100 * value:.2f}%" if name.startswith(percent) else  # noqa: E731
                                 f"{value:.4f}" if isinstance(value, float) else str(value))
    rows = [(name, shown(name, value)) for name, value in metrics.items() if name not in TABLES]
    rows += [(f"{name} ({coloring})", shown(name, value)) for coloring, each in metrics.get("colorings", {}).items()
             for name, value in each.items() if name not in TABLES]
    rows += [(f"purity of the {name} slider", f"{each['purity']:.2f}") for name, each in metrics.get("factor_purity", {}).items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join([title, "-" * len(title)] + [f"{name:<{width}}  {value}" for name, value in rows])
