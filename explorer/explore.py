"""What the explorer's tabs compute, on plain tensors: reconstruct, decode a latent code, interpolate,
traverse, translate colors, map the latent space. The UI (explorer/ui/) only formats and shows it.

`Explorer` loads every shipped model once, and every VAE file a user names (explorer/registry.py). A missing or
broken weights file does not stop it: that model's functions raise `ExplorerError` with the file's message (which
names the command that makes it), the file is listed in `problems`, and the rest keeps working.
"""

from __future__ import annotations

import io
import itertools
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import (COLORINGS, SAMPLE_PACK, TEST_COLOR_SEED, TRAINING_COLORINGS, ColoredMNIST, DataError, hue_error_degrees,
                   hue_to_rgb, image_hues, in_coloring, load_sample_pack, rgb_to_hsv)
from .registry import ExportError, Found, find_vaes, page_decoder
from .vae import VAE
from .weights import WeightsError, load_model, read_metadata

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
VAE_KINDS = ("continuous", "discrete", "joint")
# The two sets of the three VAEs: the value an API call passes -> (what it means, its weights files' suffix).
# "palette": the study's models, trained on each digit in its own color (weights/vae-<kind>.safetensors);
# "any": trained on digits in any color, gray and white included (weights/vae-<kind>-any.safetensors).
MODEL_SETS = {"any": ("trained on any color", "-any"), "palette": ("trained on the study's palette", "")}
DEFAULT_SET = "any"  # drawings and uploads come in any color
PLANE_VAE = "2d-any"  # the shipped 2-D VAE (continuous, any color): its map is its latent plane
# the shipped VAEs in the order they are listed: the two sets, then the 2-D VAE (registry.find_vaes)
SHIPPED_VAES = [kind + suffix for _, suffix in MODEL_SETS.values() for kind in VAE_KINDS] + [PLANE_VAE]
SLIDER_LIMIT = 4.0  # a continuous latent value must lie in [-4, 4] (the prior's N(0, 1) has 99.99% there)
TRAVERSAL_VALUES = torch.linspace(-3, 3, 9)  # the columns of a traversal grid
def manifold_values(n: int) -> torch.Tensor:
    """A manifold grid's latent values along one axis (Kingma & Welling 2014, fig. 4): the prior N(0, 1)'s
    quantiles (i + 0.5) / n, i = 0..n-1 (the inverse Gaussian CDF of an even grid), each cell an equal share of
    N(0, 1); float32 (n,), ascending."""
    return torch.distributions.Normal(0.0, 1.0).icdf((torch.arange(n) + 0.5) / n)


MANIFOLD_VALUES = manifold_values(20)  # a 2-D latent's manifold grid: 20 coordinates per axis, -1.96 to 1.96
INACTIVE_KL = 0.01  # nats: a continuous dimension with less test-set KL than this carries no information
HUE_CORRELATION = 0.5  # a continuous dimension this correlated with the input's hue carries the hue (Models tab)
FACTOR_MI = 0.1  # a latent is named after its strongest factor when it carries this share of its entropy or more
GRAY_SATURATION = 0.15  # a color or stroke less saturated than this (HSV) is gray: it has no hue to speak of
SEEDS = 2**53  # a prior draw's seed: 0 to 2^53 - 1, the whole numbers that a browser's number field holds exactly


class ExplorerError(ValueError):
    """A request the explorer cannot answer; the message says why and what to do."""


@dataclass
class LoadedVAE:
    """A VAE with what the explorer shows about it, read from its weights file's test metrics."""

    name: str  # vae_name: its kind and set, e.g. "joint-any"
    model: VAE
    metadata: dict
    kl_per_dimension: list[float]  # test-set KL of each continuous dimension (nats)
    order: list[int]  # the continuous dimensions, most informative (largest KL) first
    code_variable: int | None  # the categorical variable matched to the digits (code_matched), else the first
    code_map: list[int] | None  # that variable's code -> digit (code_matched), else -> itself
    path: Path  # its weights file
    # the normalised mutual information of each latent with each factor in its training coloring ({latents,
    # factors, table}, train/evaluate.py: latent_scores), None for a file evaluated before it was measured
    factors: dict | None
    factor_directions: dict[str, torch.Tensor]  # factor -> the unit direction (continuous,) that moves it most
    shipped: bool = False  # from the weights folder, not a file a user named
    code_matched: bool = True  # code_variable was matched to the digits (the evaluation's); else it is variable 0

    @property
    def summary(self) -> str:
        """One line for a list of VAEs: its name, latent layout, training coloring and test -ELBO, e.g.
        "my-vae: 3 continuous + 2 x 10 categorical; palette; -ELBO 120.3 nats" (or "not evaluated")."""
        elbo = self.metadata.get("metrics", {}).get("neg_elbo")
        coloring = self.metadata.get("training", {}).get("coloring", "digit")
        return (f"{self.name}: {layout(self.spec)}; {'palette' if coloring == 'digit' else coloring + ' color'}; "
                + (f"-ELBO {elbo:.1f} nats" if elbo is not None else "not evaluated"))

    def strongest_factor(self, latent: str) -> tuple[str, float] | None:
        """The factor that a latent ("z3": a continuous dimension, "v0": a categorical variable) carries most, and
        its normalised mutual information (0 to 1); None if the file has no measures."""
        if self.factors is None or latent not in self.factors["latents"]:
            return None
        row = self.factors["table"][self.factors["latents"].index(latent)]
        best = max(range(len(row)), key=row.__getitem__)
        return self.factors["factors"][best], row[best]

    def factor_label(self, latent: str) -> str:
        """What a latent carries, for a label: "slant 0.41" (its strongest factor and the normalised mutual
        information), "no factor above 0.1", or, for a file without the measures, the command that makes them."""
        found = self.strongest_factor(latent)
        if found is None:
            return f"factors not measured: python -m train evaluate {shown_path(self.path)}"
        name, value = found
        return f"{name} {value:.2f}" if value >= FACTOR_MI else f"no factor above {FACTOR_MI}"

    @property
    def spec(self):
        return self.model.spec

    def is_active(self, dimension: int) -> bool:
        return self.kl_per_dimension[dimension] >= INACTIVE_KL


@dataclass
class Reconstruction:
    """One VAE's answer for one input image."""

    image: torch.Tensor  # (1, 3, 28, 28)
    mse: float
    digit: int  # what the classifier reads
    confidence: float
    mean: torch.Tensor  # (continuous,) posterior mean
    std: torch.Tensor  # (continuous,) posterior standard deviation
    probabilities: list[torch.Tensor]  # (K_i,) per categorical variable


@dataclass
class Reconstructions:
    """Every loaded VAE's answer for one input image, and the classifier's reading of the input."""

    by_vae: dict[str, Reconstruction]  # by VAE name (vae_name)
    digit: int  # what the classifier reads in the input
    confidence: float


@dataclass
class Translation:
    """The CycleGAN's answer for one input image, both directions with their cycle."""

    input_saturation: float  # the HSV saturation of the input stroke's mean color: below GRAY_SATURATION it is gray
    to_color: torch.Tensor
    to_color_cycle: torch.Tensor  # to_gray(to_color(x))
    to_gray: torch.Tensor
    to_gray_cycle: torch.Tensor  # to_color(to_gray(x))
    chosen: torch.Tensor | None = None  # the hue-conditioned CycleGAN's painting in the asked hue
    chosen_cycle: torch.Tensor | None = None  # ... and back to gray
    chosen_hue_error: float | None = None  # degrees between the asked hue and the painting's hue


class Explorer:
    """The shipped models and sample digits, and everything the tabs compute from them."""

    def __init__(self, weights_dir: str | Path = WEIGHTS_DIR, sample_pack: str | Path = SAMPLE_PACK,
                 named: list[Path] = (), files: list[Found] | None = None):
        """Load the shipped models from `weights_dir`, and the VAE files and folders `named` (registry.user_paths:
        app.py's --weights, EXPLORER_WEIGHTS); with `files`, exactly those VAE files (another Explorer's `files`:
        the worker process loads what the server listed, whatever appeared in the folders since)."""
        weights_dir = Path(weights_dir)
        self.weights_dir, self.sample_pack = weights_dir, Path(sample_pack)  # where it loaded from
        # why a file is not loaded, by its stem in weights_dir ("vae-joint", "cyclegan", "samples") or as named
        found, self.problems = (files, {}) if files is not None else find_vaes(weights_dir, named, SHIPPED_VAES)
        self.files: list[Found] = list(found)  # the VAE files listed, loaded or not
        self.vaes: dict[str, LoadedVAE] = {}  # by name (registry.Found.name): "joint-any", "joint", "my-vae", ...
        for vae in found:
            loaded = self._load(vae.path, key=vae.path.stem if vae.shipped else str(vae.path))
            if loaded is not None and loaded[1]["kind"] != "vae":
                self.problems[str(vae.path)] = (f"{vae.path} is a {loaded[1]['kind']} weights file, not a VAE: the "
                                                f"explorer opens VAE files (python -m train vae).")
            elif loaded is not None:
                self.vaes[vae.name] = _describe(vae, *loaded)
        self._cyclegan = self._load(weights_dir / "cyclegan.safetensors")
        self._cyclegan_hue = self._load(weights_dir / "cyclegan-hue.safetensors")
        self._classifier = self._load(weights_dir / "classifier.safetensors")
        try:
            self.sample_images, self.sample_labels = load_sample_pack(sample_pack)
        except DataError as error:
            self.problems["samples"] = str(error)
            self.sample_images, self.sample_labels = torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
        self._session, self._session_lock = None, threading.Lock()
        self._latent_maps: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._decoder_maps: dict[str, dict] = {}
        self._page_decoders: dict[str, Path] | None = None

    def _load(self, path: Path, key: str | None = None):
        try:
            return load_model(path), read_metadata(path)
        except WeightsError as error:
            self.problems[key or path.stem] = str(error)
            return None

    # ------------------------------------------------------------------ models and samples

    def vae(self, name: str) -> LoadedVAE:
        """The loaded VAE by its name (registry.Found.name: "joint-any", "joint", "2d-any", "my-vae"...);
        ExplorerError if there is no such VAE or its weights did not load."""
        if name in self.vaes:
            return self.vaes[name]
        if f"vae-{name}" in self.problems:
            raise ExplorerError(self.problems[f"vae-{name}"])
        raise ExplorerError(f"There is no VAE {name!r}: choose one of {', '.join(self.vaes) or 'none (none loaded)'}.")

    def named_vae(self, kind: str | None, model_set: str | None = DEFAULT_SET, vae: str | None = None) -> str:
        """The name of the VAE an API call means: `vae`, a listed VAE's name ("joint-any", "my-vae") or file name
        ("my-vae.safetensors", "vae-joint-any.safetensors": the first listed of that file name), if given; else the
        VAE of `kind` in `model_set` (vae_name). ExplorerError naming the choices for anything else."""
        if not vae:
            return vae_name(kind, model_set)
        if vae in self.vaes:
            return vae
        if f"vae-{vae}" in self.problems:  # a shipped VAE that did not load: why, and the command that makes it
            raise ExplorerError(self.problems[f"vae-{vae}"])
        for name, loaded in self.vaes.items():
            if vae == loaded.path.name:
                return name
        raise ExplorerError(f"There is no VAE {vae!r}: choose one of {', '.join(self.vaes)} (or its file name).")

    def rate_distortion(self) -> list[dict]:
        """Every loaded VAE's point on the rate-distortion plane (rate_distortion), in the order listed."""
        return rate_distortion({name: vae.metadata for name, vae in self.vaes.items()})

    def page_decoders(self) -> dict[str, Path]:
        """The ONNX decoder the page runs for each VAE (registry.page_decoder: the shipped export, or one made for
        this file's bytes), by name; a VAE whose decoder does not export is left out (the server draws its
        pictures) and named in `problems`. Made once."""
        if self._page_decoders is None:
            self._page_decoders = {}
            for name, vae in self.vaes.items():
                try:
                    self._page_decoders[name] = page_decoder(Found(name, vae.path, vae.shipped), vae.model)
                except ExportError as error:
                    self.problems[str(vae.path)] = f"{error} The server draws its pictures."
        return self._page_decoders

    @property
    def cyclegan(self):
        """The gray <-> color CycleGAN (in eval mode); ExplorerError (why, and the command that makes it) if its file
        did not load."""
        if self._cyclegan is None:
            raise ExplorerError(self.problems["cyclegan"])
        return self._cyclegan[0]

    @property
    def cyclegan_hue(self):
        """The hue-conditioned CycleGAN (in eval mode); ExplorerError (why, and the command that makes it) if its file
        did not load."""
        if self._cyclegan_hue is None:
            raise ExplorerError(self.problems["cyclegan-hue"])
        return self._cyclegan_hue[0]

    @property
    def classifier(self):
        """The digit classifier (in eval mode); ExplorerError (why, and the command that makes it) if its file
        did not load."""
        if self._classifier is None:
            raise ExplorerError(self.problems["classifier"])
        return self._classifier[0]

    def metadata(self, stem: str) -> dict:
        """The weights metadata of a model by its Models-tab name: "vae-" and a VAE's name ("vae-joint-any",
        "vae-my-vae"), "cyclegan", "cyclegan-hue" or "classifier"."""
        loaded = {f"vae-{k}": (v.model, v.metadata) for k, v in self.vaes.items()}
        loaded.update({"cyclegan": self._cyclegan, "cyclegan-hue": self._cyclegan_hue, "classifier": self._classifier})
        if loaded.get(stem) is None:
            raise ExplorerError(self.problems.get(stem, f"There is no model {stem!r}."))
        return loaded[stem][1]

    def sample(self, digit: int, index: int, coloring: str) -> torch.Tensor:
        """Sample digit number `index` of class `digit` from the shipped pack of real MNIST test
        digits, in a coloring: (1, 3, 28, 28)."""
        if coloring not in COLORINGS:
            raise ExplorerError(f"The coloring must be one of {', '.join(COLORINGS)}, not {coloring!r}.")
        positions = torch.nonzero(self.sample_labels == int(digit)).flatten()
        if len(positions) == 0:
            raise ExplorerError(self.problems.get("samples", f"There are no sample digits of class {digit}."))
        if not 0 <= int(index) < len(positions):
            raise ExplorerError(f"The sample index must be 0 to {len(positions) - 1}, not {index}.")
        position = positions[int(index)]
        data = ColoredMNIST(self.sample_images, self.sample_labels, coloring, seed=TEST_COLOR_SEED)
        return data[position.view(1)][0]

    # ------------------------------------------------------------------ what the tabs compute

    @torch.inference_mode()
    def read(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The classifier's digit and its probability for each image (N, 3, 28, 28)."""
        probabilities = F.softmax(self.classifier(x), dim=1)
        confidence, digit = probabilities.max(dim=1)
        return digit, confidence

    def reconstruct(self, x: torch.Tensor) -> Reconstructions:
        """The reconstruction of one image x (1, 3, 28, 28) by every loaded VAE, from its deterministic latent
        (the posterior's mode, as vae.latent(x)), and the classifier's reading of x: one pass of one graph
        (ReconstructionGraph, in ONNX Runtime, one thread), 4.3x less CPU than the models' torch modules one
        by one for one image (docs/performance.md); a VAE whose decoder does not export (page_decoders) in
        torch beside it. ExplorerError if the classifier did not load."""
        if x.shape != (1, 3, 28, 28):
            raise ExplorerError(f"reconstruct takes one image (1, 3, 28, 28), not {tuple(x.shape)}.")
        in_graph, session = self.reconstruction_session()
        outputs = [torch.from_numpy(o) for o in session.run(None, {"x": x.float().contiguous().numpy()})]
        probabilities = F.softmax(outputs[-1], dim=1)  # the input, then each VAE's reconstruction
        confidences, digits = probabilities.max(dim=1)
        by_vae = {}
        for name, vae in self.vaes.items():
            if name in in_graph:
                k = in_graph.index(name)
                mean, log_var, logits, image = outputs[4 * k:4 * k + 4]
                digit, confidence = int(digits[k + 1]), float(confidences[k + 1])
            else:  # the same graph of this VAE alone, in torch
                with torch.inference_mode():
                    mean, log_var, logits, image, read = ReconstructionGraph([vae.model], self.classifier)(x)
                sure, read = F.softmax(read[1], dim=0).max(dim=0)
                digit, confidence = int(read), float(sure)
            by_vae[name] = Reconstruction(
                image=image, mse=F.mse_loss(image, x).item(), digit=digit, confidence=confidence,
                mean=mean[0], std=torch.exp(0.5 * log_var[0]),
                probabilities=[F.softmax(part[0], dim=0) for part in torch.split(logits, vae.spec.categorical, dim=1)])
        return Reconstructions(by_vae, int(digits[0]), float(confidences[0]))

    def reconstruction_session(self) -> tuple[list[str], object]:
        """The names of the VAEs in ReconstructionGraph (every loaded VAE whose page decoder exported: one that
        does not would fail the whole export) and its ONNX Runtime session with the classifier, exported (in
        memory, about 1.2 s) on first use (the app's worker process does it as it starts)."""
        with self._session_lock:
            if self._session is None:
                names = [name for name in self.vaes if name in self.page_decoders()]
                self._session = names, reconstruction_session(ReconstructionGraph([self.vaes[n].model for n in names],
                                                                                  self.classifier))
            return self._session

    @torch.inference_mode()
    def encode(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """The deterministic latent z (1, D) of an image under a VAE."""
        return self.vae(name).model.latent(x)

    def prior(self, name: str, seed: int) -> torch.Tensor:
        """A draw z (1, D) from a VAE's prior, reproducible by its seed (check_seed: 0 to SEEDS - 1)."""
        generator = torch.Generator().manual_seed(check_seed(seed))
        return self.vae(name).model.prior_sample(1, generator=generator)

    def check_latent(self, name: str, values) -> torch.Tensor:
        """A user's latent code (a flat list of D numbers) as z (1, D) float32: finite, continuous values
        within +-SLIDER_LIMIT, each categorical block non-negative and summing to 1 (a one-hot code or a
        mixture). Raises ExplorerError saying which rule a code breaks."""
        spec = self.vae(name).spec
        numbers = isinstance(values, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)  # no nested lists, no true/false
        if not numbers:
            raise ExplorerError(f"A latent code is a flat list of {spec.size} numbers.")
        try:
            z = torch.tensor(values, dtype=torch.float64)  # a value past float32's range is out of range, not infinite
        except (OverflowError, RuntimeError):
            raise ExplorerError("The latent code has a number too large for a float (over 1e308).") from None
        if len(z) != spec.size:
            raise ExplorerError(f"The {name} VAE's latent code has {spec.size} numbers "
                                f"({layout(spec)}), not {len(z)}.")
        if not torch.isfinite(z).all():
            raise ExplorerError("The latent code has NaN or infinite values.")
        continuous, blocks = spec.split(z)
        outside = torch.nonzero(continuous.abs() > SLIDER_LIMIT).flatten()
        if len(outside):
            i = outside[0].item()
            raise ExplorerError(f"Continuous value z[{i}] = {continuous[i].item():g} is out of range: "
                                f"each must lie in [-{SLIDER_LIMIT:g}, {SLIDER_LIMIT:g}].")
        for j, block in enumerate(blocks):
            if (block < 0).any() or abs(block.sum().item() - 1) > 1e-3:
                raise ExplorerError(f"Categorical variable {j} must be a one-hot code (or probabilities "
                                    f"summing to 1), not {[round(v, 3) for v in block.tolist()]}.")
        return z.float()[None]

    @torch.inference_mode()
    def decode(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, 28, 28) for latent codes z (N, D)."""
        return self.vae(name).model.decode(z)

    def interpolate(self, name: str, start: torch.Tensor, end: torch.Tensor, steps: int,
                    spherical: bool = False) -> torch.Tensor:
        """The decoded path from z `start` to `end` (each (1, D)) in `steps` frames: (steps, 3, 28, 28).
        Linear on all of z, or spherical (slerp) on the continuous part and linear on the codes."""
        if not 2 <= int(steps) <= 64:
            raise ExplorerError(f"The number of steps must be 2 to 64, not {steps}.")
        t = torch.linspace(0, 1, int(steps))[:, None]
        path = (1 - t) * start + t * end
        spec = self.vae(name).spec
        if spherical and spec.continuous:
            path[:, :spec.continuous] = slerp(start[0, :spec.continuous], end[0, :spec.continuous], t)
        return self.decode(name, path)

    def traversal(self, name: str, z: torch.Tensor, dimension: int = 0) -> tuple[torch.Tensor, int, list[str]]:
        """A grid of decoded variations of z (1, D): (images, columns, row labels).

        two continuous dimensions and no code (is_plane): the manifold, the plane decoded at MANIFOLD_VALUES (z0
        across, z1 down from its largest); joint: one row per code (in digit order), the columns sweep continuous `dimension` over
        TRAVERSAL_VALUES; continuous: one row per dimension (most informative first), each swept;
        discrete: one row per categorical variable, the columns set it to each of its categories; first the
        variable matched to digits (its categories in digit order), then the others, the ones that change
        the picture most (mean pixel variance along the row) first.
        """
        vae = self.vae(name)
        spec = vae.spec
        rows, labels = [], []
        if is_plane(spec):
            rows = list(manifold_latents().split(len(MANIFOLD_VALUES)))
            labels = [f"z1 = {z1:.2f}" for z1 in MANIFOLD_VALUES.flip(0)]
        elif spec.continuous and spec.categorical:
            if not 0 <= int(dimension) < spec.continuous:
                raise ExplorerError(f"The dimension must be 0 to {spec.continuous - 1}, not {dimension}.")
            start = spec.continuous + sum(spec.categorical[:vae.code_variable])
            k = spec.categorical[vae.code_variable]
            for code in sorted(range(k), key=lambda c: vae.code_map[c]):
                row = z.repeat(len(TRAVERSAL_VALUES), 1)
                row[:, start:start + k] = F.one_hot(torch.tensor(code), k).float()
                row[:, int(dimension)] = TRAVERSAL_VALUES
                rows.append(row)
                labels.append(f"code {code} (digit {vae.code_map[code]})" if vae.code_matched else f"code {code}")
        elif spec.continuous:
            for d in vae.order:
                row = z.repeat(len(TRAVERSAL_VALUES), 1)
                row[:, d] = TRAVERSAL_VALUES
                rows.append(row)
                labels.append(f"z{d}")
        else:
            start = 0
            for j, k in enumerate(spec.categorical):
                categories = sorted(range(k), key=lambda c: vae.code_map[c]) if j == vae.code_variable else range(k)
                row = z.repeat(k, 1)
                row[:, start:start + k] = torch.eye(k)[list(categories)]
                rows.append(row)
                labels.append(f"variable {j} (digits 0-{k - 1})" if j == vae.code_variable and vae.code_matched
                              else f"variable {j}")
                start += k
            images = self.decode(name, torch.cat(rows)).unflatten(0, (len(rows), -1))
            change = images.var(dim=1).mean(dim=(1, 2, 3))
            order = sorted(range(len(rows)), key=lambda j: (j != vae.code_variable, -float(change[j])))
            return images[order].flatten(0, 1), images.shape[1], [labels[j] for j in order]
        columns = len(rows[0])
        return self.decode(name, torch.cat(rows)), columns, labels

    @torch.inference_mode()
    def picture_factors(self, name: str, z: torch.Tensor) -> dict[str, np.ndarray]:
        """The factors measured on the pictures that a VAE decodes from latent codes z (N, D): {factor: (N,) float64
        array} in FACTORS' order but the digit (explorer/factors.py: picture_factors; NaN where a picture has no
        stroke, or, for the hue, a gray one)."""
        from .factors import FACTORS, picture_factors  # here: explorer.factors imports this module

        measured = picture_factors(self.decode(name, z))
        return {factor: measured[:, i] for i, factor in enumerate(FACTORS[1:])}

    @torch.inference_mode()
    def translate(self, x: torch.Tensor, hue: float | None = None) -> Translation:
        """Both CycleGAN directions for an image x (1, 3, 28, 28), each with its cycle reconstruction;
        with a hue in [0, 1), also the hue-conditioned CycleGAN's painting of x in that hue."""
        gan = self.cyclegan
        to_color, to_gray = gan.to_color(x), gan.to_gray(x)
        value = x.amax(1)  # the stroke: over half its brightest 1% (a bright speck is not the top of it)
        stroke = (value > 0.5 * torch.quantile(value.flatten(), 0.99)).float()
        color = (x * stroke[:, None]).sum((2, 3), keepdim=True) / stroke.sum().clamp_min(1)  # (1, 3, 1, 1)
        saturation = rgb_to_hsv(color)[1].item()  # of the mean color: pixel noise in a dim stroke averages out
        translation = Translation(saturation, to_color, gan.to_gray(to_color), to_gray, gan.to_color(to_gray))
        if hue is not None:
            if not 0 <= hue <= 1:
                raise ExplorerError(f"The hue must lie in [0, 1], not {hue}.")
            painter = self.cyclegan_hue
            asked = torch.tensor([float(hue) % 1.0])
            chosen = painter.to_color(painter.to_gray(x), hue_to_rgb(asked))  # gray first: a colored input works too
            produced = image_hues(chosen, stroke.bool())
            translation.chosen, translation.chosen_cycle = chosen, painter.to_gray(chosen)
            translation.chosen_hue_error = hue_error_degrees(asked, produced).item()
        return translation

    @torch.inference_mode()
    def decoder_map(self, name: str) -> dict:
        """The sliders tab's hoverable map, for the page: for a VAE with two continuous dimensions, that plane
        itself (mean 0, axes the identity: a point is z); else the plane of the first two principal components
        of the sample pack's decodable latent features (the continuous means; for the discrete VAE, which has
        none, the category probabilities of its variables), and each sample digit's latent. A point (a, b)
        of the plane stands for the features mean + a axes[0] + b axes[1]: the continuous part of z (the
        joint VAE's code is the one selected), or one probability vector per variable (the page clips its
        negative values and renormalises: a mixture of categories, which the decoder takes). JSON-ready:
        {name, features ("continuous" | "categorical"), mean (F,), axes (2, F), points (N, 2), labels (N,),
        means (N, C) posterior means, codes (N, V) argmax categories, categorical (V,) each variable's categories,
        limit (the continuous range)}. Cached."""
        if name in self._decoder_maps:
            return self._decoder_maps[name]
        vae = self.vae(name)
        post = vae.model.encode(self._colored_samples(vae))
        continuous = bool(vae.spec.continuous)
        if vae.spec.continuous == 2:  # the latent plane itself: a point of the map is z
            mean, axes, points = torch.zeros(2), torch.eye(2), post.mean
        else:
            mean, axes, points = principal_plane(latent_features(post, codes=not continuous))
        codes = torch.stack([logits.argmax(1) for logits in post.logits], 1) if post.logits else torch.zeros(len(post.mean), 0)
        rounded = lambda t, digits=4: [[round(v, digits) for v in row] for row in t.tolist()]
        self._decoder_maps[name] = {
            "name": name, "features": "continuous" if continuous else "categorical",
            "mean": [round(v, 5) for v in mean.tolist()], "axes": rounded(axes, 5), "points": rounded(points, 3),
            "labels": self.sample_labels.tolist(), "means": rounded(post.mean, 3), "codes": codes.int().tolist(),
            "categorical": list(vae.spec.categorical), "limit": SLIDER_LIMIT}
        return self._decoder_maps[name]

    def _colored_samples(self, vae: LoadedVAE) -> torch.Tensor:
        """The sample pack's digits (N, 3, 28, 28) in the coloring the VAE was trained on."""
        return sample_digits(self.sample_images, self.sample_labels, vae.metadata["training"].get("coloring", "digit"))

    @torch.inference_mode()
    def latent_map(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The sample pack's latent means (the code probabilities for categorical parts) projected on
        their first two principal components: coordinates (N, 2) and labels (N,). Cached."""
        if name not in self._latent_maps:
            self._latent_maps[name] = (latent_map(self.vae(name).model, self._colored_samples(self.vae(name))),
                                       self.sample_labels)
        return self._latent_maps[name]


class ReconstructionGraph(nn.Module):
    """What /reconstruct computes, as one graph: an image x (1, 3, 28, 28) in [0, 1] -> for each VAE, in
    order, its posterior's mean and log-variance (1, continuous), its categorical logits side by side
    (1, sum of categories; (1, 0) without), and its reconstruction from the posterior's mode (1, 3, 28, 28);
    last, the classifier's logits (1 + VAEs, 10) for x and each reconstruction, in that order."""

    def __init__(self, vaes: list[VAE], classifier: nn.Module):
        super().__init__()
        self.vaes, self.classifier = nn.ModuleList(vaes), classifier

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs, images = [], [x]
        for vae in self.vaes:
            post = vae.encode(x)
            image = vae.decode(vae.posterior_mode(post))
            outputs += [post.mean, post.log_var, torch.cat([x.new_zeros(1, 0), *post.logits], dim=1), image]
            images.append(image)
        return (*outputs, self.classifier(torch.cat(images)))


def reconstruction_session(graph: nn.Module):
    """An ONNX Runtime session (one thread: the server runs requests side by side) of `graph` exported for
    one image (1, 3, 28, 28), input "x". The export runs in memory (torch.onnx, opset 17)."""
    import onnxruntime  # imported when first needed, not at the app's start-up

    graph = graph.eval()
    onnx = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's notices
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (torch.zeros(1, 3, 28, 28),), onnx, dynamo=False, input_names=["x"], opset_version=17)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(onnx.getvalue(), options, providers=["CPUExecutionProvider"])


def rate_distortion(files: dict[str, dict]) -> list[dict]:
    """The VAEs' points on the rate-distortion plane (Alemi et al. 2018, "Fixing a Broken ELBO"), from their weights
    files' test metrics ({name: metadata}): one per VAE and test coloring where the file records each coloring's
    rate and distortion (train/evaluate.py: IN_EVERY_COLORING), else one in its training coloring. Each point:
    {name, coloring (of the test digits), trained (the training coloring), rate (the test KL of the posterior from
    the prior, continuous + discrete, nats per digit), distortion (the reconstruction's negative log-likelihood,
    nats per digit), neg_elbo (= rate + distortion)}. A file without these metrics is left out."""
    points = []
    for name, metadata in files.items():
        metrics = metadata.get("metrics", {})
        trained = metadata.get("training", {}).get("coloring", "digit")
        measured = {coloring: each for coloring, each in metrics.get("colorings", {}).items() if "recon_nll" in each}
        if not measured and "recon_nll" in metrics:
            measured = {trained: metrics}
        for coloring, each in measured.items():
            rate = each.get("kl_continuous", 0.0) + each.get("kl_discrete", 0.0)
            points.append({"name": name, "coloring": coloring, "trained": trained, "rate": rate,
                           "distortion": each["recon_nll"], "neg_elbo": rate + each["recon_nll"]})
    return points


def elbo_levels(points: list[dict], most: int = 8) -> list[int]:
    """The -ELBO values (nats) of the iso-lines to draw on the rate-distortion plane of `points` (rate_distortion):
    round values every 50, 100, 200, 500 or 1000 nats, the first step that gives at most `most` lines across the
    points' span (an outlier such as a file trained for a few steps widens it)."""
    if not points:
        return []
    low, high = min(p["distortion"] for p in points), max(p["distortion"] for p in points) + max(p["rate"] for p in points)
    step = next((s for s in (50, 100, 200, 500, 1000) if (high - low) / s <= most), 1000)
    return list(range(int(low // step) * step, int(high) + step, step))


def manifold_latents(values: torch.Tensor = MANIFOLD_VALUES) -> torch.Tensor:
    """The manifold grid's latent codes (n * n, 2) for its values along an axis (n,) ascending (by default
    MANIFOLD_VALUES: 400 codes): its rows in turn from the top (z1 at its largest value, as a plot's y axis),
    each with z0 across."""
    return torch.stack(torch.meshgrid(values, values.flip(0), indexing="xy"), -1).reshape(-1, 2)


def is_plane(spec) -> bool:
    """Whether a latent is a plane: two continuous dimensions and no code (its traversal is the manifold grid)."""
    return spec.continuous == 2 and not spec.categorical


def check_seed(seed) -> int:
    """A prior draw's seed as given by a user (an int, or a float that is whole) -> int in [0, SEEDS).
    Raises ExplorerError for anything else (torch's generator overflows at 2^64; a page rounds past 2^53)."""
    try:
        whole = float(seed).is_integer() and 0 <= seed < SEEDS
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise ExplorerError(f"The seed must be a whole number from 0 to {SEEDS - 1}, not {seed!r}.")
    return int(seed)


def vae_name(kind: str, model_set: str | None = DEFAULT_SET) -> str:
    """The name of the VAE of a kind in a set ("joint", "any" -> "joint-any"; the palette set's VAEs keep
    their kind as their name; None: the default set); ExplorerError naming the choices for an unknown
    kind or set."""
    model_set = DEFAULT_SET if model_set is None else model_set
    if kind not in VAE_KINDS:
        raise ExplorerError(f"There is no VAE {kind!r}: choose one of {', '.join(VAE_KINDS)}.")
    if model_set not in MODEL_SETS:
        raise ExplorerError(f"The model set must be one of {', '.join(map(repr, MODEL_SETS))} "
                            f"({'; '.join(f'{k}: {v[0]}' for k, v in MODEL_SETS.items())}), not {model_set!r}.")
    return kind + MODEL_SETS[model_set][1]


def sample_digits(images: torch.Tensor, labels: torch.Tensor, coloring: str) -> torch.Tensor:
    """Digits (uint8 (N, 28, 28)) painted in a VAE's training coloring (the palette for an unknown one;
    random colors from TEST_COLOR_SEED): float (N, 3, 28, 28) in [0, 1]."""
    return in_coloring(images, labels, coloring if coloring in TRAINING_COLORINGS else "digit")


def latent_features(post, codes: bool = True) -> torch.Tensor:
    """A posterior (vae.encode's, N digits) -> the means, then (if `codes`) the probabilities of each
    categorical variable's categories: (N, F) float32."""
    return torch.cat([post.mean, *([F.softmax(logits, dim=1) for logits in post.logits] if codes else [])], dim=1)


def principal_plane(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The plane of the first two principal components of N points (N, F): their mean (F,), the two unit
    axes (2, F) (signs as the SVD gives them; a zero axis where there are fewer than two directions: one feature,
    or one point) and the points' coordinates on it (N, 2). No points (no sample pack): the plane of the first two
    axes through 0."""
    if len(features) == 0:
        return features.new_zeros(features.shape[1]), torch.eye(2, features.shape[1]), features.new_zeros(0, 2)
    mean = features.mean(0)
    _, _, directions = torch.linalg.svd(features - mean, full_matrices=False)
    axes = torch.cat([directions[:2], directions.new_zeros(max(0, 2 - len(directions)), features.shape[1])])
    return mean, axes, (features - mean) @ axes.T


@torch.inference_mode()
def latent_map(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Digits x (N, 3, 28, 28) in [0, 1] -> their latent features (latent_features) projected on the plane
    of their first two principal components: (N, 2) float32, centred on their mean."""
    return principal_plane(latent_features(model.encode(x)))[2]


def slerp(start: torch.Tensor, end: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between vectors start and end (D,) at times t (T, 1): (T, D)."""
    cosine = F.cosine_similarity(start, end, dim=0).clamp(-1, 1)
    omega = torch.arccos(cosine)
    if omega.abs() < 1e-4:
        return (1 - t) * start + t * end
    return (torch.sin((1 - t) * omega) * start + torch.sin(t * omega) * end) / torch.sin(omega)


def shown_path(path: Path) -> str:
    """A weights file's path as a command line would give it: relative to the working folder where it is inside."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _describe(file: Found, model: VAE, metadata: dict) -> LoadedVAE:
    name, path = file.name, file.path
    metrics = metadata.get("metrics", {})
    kl = metrics.get("kl_per_dimension") or [1.0] * model.spec.continuous
    code_variable = metrics.get("code_variable")
    code_map = metrics.get("code_map")
    matched = not (code_variable is None or code_map is None or any(d < 0 for d in code_map))
    if not matched:  # no variable matched to the digits (none of 10 categories, or not evaluated): the first, as it is
        code_variable, code_map = (0, list(range(model.spec.categorical[0]))) if model.spec.categorical else (None, None)
    order = sorted(range(model.spec.continuous), key=lambda d: -kl[d])
    found = metrics.get("factor_directions", {})
    directions = {factor: torch.tensor(direction) for factor, direction in zip(found.get("factors", []),
                                                                               found.get("directions", [])) if any(direction)}
    return LoadedVAE(name, model, metadata, kl, order, code_variable, code_map, path, metrics.get("mutual_information"),
                     directions, file.shipped, matched)


def layout(spec) -> str:
    """A latent layout in words: "3 continuous + 2 x 10 categorical", "24 x 10 categorical", "2 continuous"."""
    parts = [f"{spec.continuous} continuous"] if spec.continuous else []
    runs = [(k, sum(1 for _ in group)) for k, group in itertools.groupby(spec.categorical)]
    parts += [f"{n} x {k} categorical" for k, n in runs]
    return " + ".join(parts)
