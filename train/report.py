"""Figures of trained models, drawn with matplotlib (headless, Agg) from weights files alone.

`python -m train report` redraws docs/figures/ from the shipped weights: the curves and metrics come
from each file's metadata and the pictures from its model and the shipped sample pack, so the figures
shown in the README and docs/ cannot drift from the models. Every training command draws the same
figures of its own file into its run folder (`<run-dir>/figures/`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from explorer.data import COLORINGS, PALETTE, UnpairedDomains, load_sample_pack  # noqa: E402
from explorer.explore import (MANIFOLD_VALUES, elbo_levels, is_plane, latent_map, manifold_latents, rate_distortion,  # noqa: E402
                              sample_digits)
from explorer.files import atomic_write  # noqa: E402
from explorer.images import grid_picture  # noqa: E402
from explorer.vae import LatentSpec  # noqa: E402
from explorer.weights import TRAIN_COMMANDS, load_model, read_metadata  # noqa: E402

from .recipes import VAEObjective, cyclegan_samples, vae_samples  # noqa: E402

SHIPPED = tuple(TRAIN_COMMANDS)  # the shipped files' stems, in training order
DIGIT_COLORS = {d: tuple(c / 255 for c in rgb) for d, rgb in PALETTE.items()}
CURVES = {  # the logged values drawn for each kind of model, panel by panel: {panel title: [curve names]}
    "classifier": {"training loss (cross-entropy)": ["loss"], "training batch accuracy": ["accuracy"]},
    "cyclegan": {"generator losses": ["g_adv", "cycle", "identity", "color"],
                 "discriminator losses (least squares)": ["d_color", "d_gray"]},
}


def vae_preview(coloring: str) -> torch.Tensor:
    """The first sample-pack digit of each class, 0-9, painted in `coloring`: (10, 3, 28, 28) in [0, 1]."""
    images, labels = load_sample_pack()
    first_of_each = torch.stack([torch.nonzero(labels == d)[0, 0] for d in range(10)])
    return sample_digits(images, labels, coloring)[first_of_each]


def cyclegan_preview() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first 10 sample-pack pairs: gray digits, colored digits (10, 3, 28, 28) and their colors (10, 3)."""
    return UnpairedDomains(*load_sample_pack())[torch.arange(10)]


def training_figure(metadata: dict) -> plt.Figure:
    """The logged training curves of a weights file against the step. For a VAE: the negative ELBO and
    the loss minimised (nats per image), and each latent part's KL beside the capacity C it was held
    near (JointVAE's schedule, recomputed from the recorded hyperparameters), and the code agreement
    between two views where the recipe had one."""
    training = metadata["training"]
    curve, steps = training.get("curve", []), training.get("steps", 0)
    step = [point["step"] for point in curve]
    if metadata["kind"] == "vae":
        panels = {"negative ELBO and loss (nats per image)": ["neg_elbo", "loss"],
                  "KL (nats) and its capacity C": ["kl_cont", "kl_disc"],
                  "code agreement between two views (nats)": ["code_mi"]}
    else:
        panels = CURVES[metadata["kind"]]
    config = metadata["config"] if metadata["kind"] == "vae" else {}
    absent = {curve_name for curve_name, part in (("kl_cont", "continuous"), ("kl_disc", "categorical"))
              if part in config and not config[part]}  # the KL of a part this VAE's latent lacks: always 0
    panels = {title: [n for n in names if curve and n in curve[0] and n not in absent] for title, names in panels.items()}
    panels = {title: names for title, names in panels.items() if names}
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (title, names) in zip(axes[0], panels.items()):
        for name in names:
            line, = ax.plot(step, [point[name] for point in curve], label=name)
            if name in ("kl_cont", "kl_disc") and metadata["config"]["categorical"]:
                ax.plot(step, _capacity(metadata, name, step, steps), "--", color=line.get_color(),
                        label=f"C ({name[3:]})")
        if names[0] == "neg_elbo":
            ax.set_yscale("log")
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(_title(metadata), fontsize=10)
    figure.tight_layout()
    return figure


def _capacity(metadata: dict, name: str, steps: list[int], total_steps: int) -> list[float]:
    """The capacity C (nats) of the continuous (`kl_cont`) or discrete (`kl_disc`) part at each step."""
    hyper = metadata["training"]["hyperparameters"]
    objective = VAEObjective(**{k: v for k, v in hyper.items() if k in VAEObjective.__dataclass_fields__})
    spec = LatentSpec(metadata["config"]["continuous"], tuple(metadata["config"]["categorical"]))
    return [objective.capacities(s, total_steps, spec)[name == "kl_disc"] for s in steps]


def samples_figure(model, metadata: dict) -> plt.Figure:
    """The model's sample grid, row by row with labels: for a VAE, ten test digits (one per class, in
    its training coloring), their reconstructions and prior draws; for a CycleGAN, both translations."""
    if metadata["kind"] == "vae":
        rows = vae_samples(model, vae_preview(metadata["training"].get("coloring", "digit")))
    else:
        gray, colored, _ = cyclegan_preview()
        rows = cyclegan_samples(model, gray, colored)
    figure, axes = plt.subplots(len(rows), 1, figsize=(6, 0.75 * len(rows) + 0.4), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        ax.imshow(grid_picture(images, columns=len(images)), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(_title(metadata), fontsize=10)
    figure.tight_layout()
    return figure


def latent_figure(vae, metadata: dict) -> plt.Figure:
    """A VAE's latent space: the test KL of each continuous dimension (nats, from the file's metrics)
    and the map of the sample pack's 1,000 digits (the plane of the first two principal components of
    their posterior means and category probabilities, explorer.explore.latent_map; for a VAE with two
    continuous dimensions, their posterior means on that plane itself), each dot colored by its digit's
    palette color."""
    images, labels = load_sample_pack()
    digits = sample_digits(images, labels, metadata["training"].get("coloring", "digit"))
    plane = vae.spec.continuous == 2  # the latent plane itself, as the app's map
    with torch.inference_mode():
        points = (vae.encode(digits).mean if plane else latent_map(vae, digits)).numpy()
    kl = metadata["metrics"].get("kl_per_dimension") or []
    figure, axes = plt.subplots(1, 2 if kl else 1, figsize=(10 if kl else 5.5, 4.2), squeeze=False)
    if kl:
        ax = axes[0, 0]
        ax.bar([f"z{d}" for d in range(len(kl))], kl, color="#4c72b0")
        ax.set(title="KL per continuous dimension (test set)", ylabel="nats")
        ax.tick_params(axis="x", labelsize=7, rotation=90)
        ax.grid(axis="y", alpha=0.3)
    ax = axes[0, -1]
    ax.set_facecolor("black")
    for digit in range(10):
        chosen = (labels == digit).numpy()
        ax.scatter(points[chosen, 0], points[chosen, 1], s=8, color=DIGIT_COLORS[digit], label=str(digit))
    ax.set(title=f"latent map: {len(labels):,} test digits, " + ("their posterior means" if plane else
                                                                 "first two principal components"),
           xlabel="z0" if plane else "PC 1", ylabel="z1" if plane else "PC 2")
    ax.title.set_fontsize(9)
    ax.legend(title="digit", fontsize=7, title_fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    figure.suptitle(_title(metadata), fontsize=10)
    figure.tight_layout()
    return figure


def factors_figure(metadata: dict) -> plt.Figure | None:
    """What each latent of a VAE carries: the factor x latent heatmap of its training coloring's normalised
    mutual information (the file's `mutual_information`: I(latent; factor) / H(factor), 0 to 1), each cell
    written; the continuous dimensions by falling KL, then the categorical variables. None for a file
    without it (not evaluated since the factors were measured)."""
    metrics = metadata["metrics"]
    table = metrics.get("mutual_information")
    if table is None:
        return None
    kl = metrics.get("kl_per_dimension") or []
    rows = [f"z{d}" for d in sorted(range(len(kl)), key=lambda d: -kl[d])] + [l for l in table["latents"] if l[0] == "v"]
    values = [table["table"][table["latents"].index(row)] for row in rows]
    figure, ax = plt.subplots(figsize=(0.6 * len(table["factors"]) + 2.2, max(2.6, 0.26 * len(rows) + 1.6)))  # a 2-D latent: 2 rows
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v > 0.5 else "black")
    ax.set_xticks(range(len(table["factors"])), table["factors"], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    figure.colorbar(image, ax=ax, fraction=0.05, label="I(latent; factor) / H(factor)")
    ax.set_title(f"{metadata['training'].get('coloring', '')} coloring: MIG {metrics['mig']:.2f}, "
                 f"DCI disentanglement {metrics['dci_disentanglement']:.2f}", fontsize=8)
    figure.suptitle(_title(metadata), fontsize=8)
    figure.tight_layout()
    return figure


def metric_rows(stem: str, metadata: dict) -> list[tuple[str, float]]:
    """The test-set accuracies of a weights file, as (label, fraction in [0, 1]) rows, each label naming
    the model, the measure and the coloring of the test digits it was measured on (a VAE: in each
    coloring, where its file records them)."""
    metrics, kind = metadata.get("metrics", {}), metadata["kind"]
    if kind == "classifier":
        return [(f"{stem}: test digits read right, {coloring}", metrics[f"accuracy_{coloring}"])
                for coloring in COLORINGS if f"accuracy_{coloring}" in metrics]
    if kind == "cyclegan":
        return [(f"{stem}: gray -> color read right", metrics["accuracy_to_color"]),
                (f"{stem}: random colors -> gray read right", metrics["accuracy_to_gray"])]
    names = {"recon_read_as_label": "reconstructions read right",
             "code_accuracy": "code accuracy" + (" (its digit variable)" if len(metadata["config"]["categorical"]) > 1 else ""),
             "toggle_fidelity": "toggle fidelity"}
    colorings = metrics.get("colorings") or {metadata["training"].get("coloring", "digit"): metrics}
    return [(f"{stem}: {label}, {coloring}", each[name]) for name, label in names.items()
            for coloring, each in colorings.items() if name in each]


@torch.inference_mode()
def manifold_figure(vae, metadata: dict) -> plt.Figure:
    """A 2-D VAE's manifold (Kingma & Welling 2014, figure 4): its plane decoded on a 20 x 20 grid at the prior's
    quantiles (explorer.explore.manifold_latents, as the app's traversal), z0 across, z1 up."""
    values = MANIFOLD_VALUES
    grid = grid_picture(vae.decode(manifold_latents()), len(values))
    figure, ax = plt.subplots(figsize=(7, 7.3))
    ax.imshow(grid, interpolation="nearest")
    ticks = [0, len(values) // 2, len(values) - 1]
    step = grid.shape[1] / len(values)
    ax.set_xticks([(i + 0.5) * step for i in ticks], [f"{values[i]:.2f}" for i in ticks])
    ax.set_yticks([(i + 0.5) * step for i in ticks], [f"{values.flip(0)[i]:.2f}" for i in ticks])
    ax.set(xlabel="z0", ylabel="z1", title="the latent plane decoded at the prior's quantiles (inverse Gaussian CDF)")
    ax.title.set_fontsize(9)
    figure.suptitle(_title(metadata), fontsize=10)
    figure.tight_layout()
    return figure


def rate_distortion_figure(files: dict[str, dict]) -> plt.Figure:
    """Every VAE ({name: metadata}) on the rate-distortion plane (Alemi et al. 2018; explorer.explore.rate_distortion):
    a color per VAE, a marker per coloring of the test digits, and the ELBO's iso-lines (rate + distortion =
    -ELBO) at explorer.explore.elbo_levels."""
    points = rate_distortion(files)
    figure, ax = plt.subplots(figsize=(8, 5.5))
    names = list(dict.fromkeys(p["name"] for p in points))
    markers = {"digit": "o", "random": "s", "gray": "^", "any": "D"}
    colors = plt.get_cmap("tab10")
    for point in points:
        ax.scatter(point["rate"], point["distortion"], color=colors(names.index(point["name"]) % 10),
                   marker=markers.get(point["coloring"], "o"), s=45, zorder=3)
    rates = [p["rate"] for p in points] or [0, 1]
    distortions = [p["distortion"] for p in points] or [0, 1]
    top_rate, low, high = 1.1 * max(rates), 0.95 * min(distortions), 1.05 * max(distortions)
    for level in elbo_levels(points):
        ax.plot([0, top_rate], [level, level - top_rate], color="#cccccc", lw=0.8, zorder=1)
        if low <= level <= high:
            ax.annotate(f"-ELBO {level}", (0, level), fontsize=7, color="#888888", xytext=(3, 2), textcoords="offset points")
    ax.set(xlim=(0, top_rate), ylim=(low, high), xlabel="rate: test KL(q(z|x) || p(z)), nats",
           ylabel="distortion: test reconstruction NLL, nats",
           title="Rate-distortion plane (Alemi et al. 2018): every VAE on the MNIST test digits")
    handles = [plt.Line2D([], [], color=colors(i % 10), marker="o", ls="", label=name) for i, name in enumerate(names)]
    handles += [plt.Line2D([], [], color="#555555", marker=markers[c], ls="", label=f"{c} test coloring")
                for c in dict.fromkeys(p["coloring"] for p in points)]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def metrics_figure(files: dict[str, dict]) -> plt.Figure:
    """The test-set accuracies (%) of weights files ({stem: metadata}) as labeled horizontal bars."""
    rows = [row for stem, metadata in files.items() for row in metric_rows(stem, metadata)]
    figure, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.0))
    labels, values = [label for label, _ in rows][::-1], [100 * value for _, value in rows][::-1]
    bars = ax.barh(labels, values, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{v:.2f}%" for v in values], padding=3, fontsize=8)
    ax.set(xlim=(0, 115), xlabel="% of the MNIST test set", title="Test metrics, judged by the shipped classifier")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def file_figures(path: str | Path) -> dict[str, plt.Figure]:
    """Every figure of one weights file: {name: figure}, names `training`, `samples` (VAEs and
    CycleGANs), `latent`, where the file has its factor scores, `factors`, and for a 2-D latent, `manifold` (VAEs)."""
    metadata = read_metadata(path)
    figures = {"training": training_figure(metadata)}
    if metadata["kind"] in ("vae", "cyclegan"):
        model = load_model(path)
        figures["samples"] = samples_figure(model, metadata)
        if metadata["kind"] == "vae":
            figures["latent"] = latent_figure(model, metadata)
            factors = factors_figure(metadata)
            if factors is not None:
                figures["factors"] = factors
            if is_plane(model.spec):
                figures["manifold"] = manifold_figure(model, metadata)
    return figures


def save_figure(figure: plt.Figure, path: Path) -> Path:
    """Write a figure as a PNG (100 dpi) atomically and close it."""
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
    plt.close(figure)
    return path


def run_figures(path: str | Path, run_dir: str | Path) -> list[Path]:
    """Draw a freshly trained weights file's figures into its run folder, `<run_dir>/figures/`."""
    folder = Path(run_dir) / "figures"
    figures = {**file_figures(path), "metrics": metrics_figure({Path(path).stem: read_metadata(path)})}
    return [save_figure(figure, folder / f"{name}.png") for name, figure in figures.items()]


def report(weights_dir: str | Path, out: str | Path) -> list[Path]:
    """Redraw the figures of the shipped weights files found in `weights_dir` into `out`:
    `<stem>-training.png`, `<stem>-samples.png`, `<stem>-latent.png`, `<stem>-factors.png`, `<stem>-manifold.png`
    (a 2-D latent), and one `metrics.png` and one `rate-distortion.png` for all.
    Returns the paths written. Raises FileNotFoundError if none is there, WeightsError (naming the file
    and the command that makes it) for a file that cannot be read."""
    weights_dir, out = Path(weights_dir), Path(out)
    present = [stem for stem in SHIPPED if (weights_dir / f"{stem}.safetensors").is_file()]
    if not present:
        raise FileNotFoundError(f"{weights_dir} holds none of the shipped weights files: make them with python -m train all")
    written = []
    for stem in present:
        for name, figure in file_figures(weights_dir / f"{stem}.safetensors").items():
            written.append(save_figure(figure, out / f"{stem}-{name}.png"))
    files = {stem: read_metadata(weights_dir / f"{stem}.safetensors") for stem in present}
    written.append(save_figure(metrics_figure(files), out / "metrics.png"))
    vaes = {stem.removeprefix("vae-"): metadata for stem, metadata in files.items() if metadata["kind"] == "vae"}
    written.append(save_figure(rate_distortion_figure(vaes), out / "rate-distortion.png"))
    return written


def _title(metadata: dict) -> str:
    training = metadata["training"]
    name = {"vae": f"VAE ({training['hyperparameters'].get('kind', '')} latent)", "classifier": "classifier",
            "cyclegan": "hue-conditioned CycleGAN" if metadata["config"].get("hue_conditioned") else "CycleGAN"}
    name = name[metadata["kind"]]
    return (f"{name}: {training.get('steps', '?')} steps, seed {training.get('seed', '?')}, "
            f"{training.get('precision', 'bf16')}, {training.get('coloring', '')} coloring")
