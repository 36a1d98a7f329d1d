"""The training CLI: python -m train {classifier, vae, cyclegan, cyclegan-hue, lab, all, evaluate, web, report, sample-pack} --help."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import safetensors
import torch
import torch.distributed as dist

from explorer.classifier import ClassifierConfig
from explorer.cyclegan import CycleGANConfig
from explorer.data import SAMPLE_PACK, TRAINING_COLORINGS, AnyColor, ColoredMNIST, UnpairedDomains, DataError, load_mnist, load_sample_pack, make_sample_pack
from explorer.factors import FACTOR_PACK, make_factor_pack
from explorer.vae import PRESETS, LatentSpec, VAEConfig
from explorer.files import atomic_write
from explorer.weights import PLANE_OPTIONS, WeightsError, save_weights

from . import engine, lab, report, web
from .evaluate import evaluate, evaluate_file, format_table
from .recipes import AGREEMENTS, ClassifierRecipe, CycleGANRecipe, VAEObjective, VAERecipe, WithNeighbors, nearest_neighbors

VAE_OPTIONS = ("beta", "gamma", "capacity_continuous", "capacity_discrete", "capacity_ramp", "capacity_ramp_discrete", "capacity_delay",
               "temperature_start", "temperature_end", "balance", "consistency", "agreement", "shear", "thicken", "neighbors",
               "code_detach", "recolor", "free_bits", "free_bits_discrete", "straight_through",
               "code_cycle")
ARCHITECTURE_OPTIONS = ("channels", "hidden", "dropout")  # VAEConfig fields that `train vae` can override
RUNS = Path("runs")  # each run's folder by default: runs/<model>


def training_data(args) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The training digits (uint8 images, labels) and where they came from."""
    if args.sample_pack:
        images, labels = load_sample_pack()
        return images, labels, f"sample pack {SAMPLE_PACK.name} ({len(labels)} MNIST test digits; smoke runs only)"
    images, labels = load_mnist("train", args.data_dir)
    return images, labels, f"MNIST train set ({len(labels)} images)"


def run_training(args, make_recipe, train_set, data: str, model_of, hyperparameters: dict, fit=engine.fit) -> None:
    """Fit on the engine, then (main process) evaluate on the test set and write the weights file."""
    precision = engine.choose_precision(args.precision, engine.default_device())
    print(f"precision: {precision.reason}", flush=True)
    settings = engine.Settings(run_dir=args.run_dir, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                               resume=args.resume, max_steps=args.max_steps, bf16=precision.bf16,
                               channels_last=precision.channels_last)
    recipe, result = fit(make_recipe, train_set, settings)
    if dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return
        torch.set_num_threads(os.cpu_count() or 1)  # the other processes are done: evaluate on every core
    model = model_of(recipe).to("cpu", memory_format=torch.contiguous_format).eval()
    metrics = evaluate(model, train_set.coloring, args.data_dir, sample_pack=args.sample_pack)
    training = {
        "data": data, "coloring": train_set.coloring, "epochs": result.epochs, "steps": result.steps,
        "batch_size": args.batch_size, "seconds": result.seconds, "seed": result.seed, "device": result.device,
        "processes": result.world_size, "precision": precision.name,
        "machine": engine.machine_capabilities(),
        "hyperparameters": {"lr": args.lr, **hyperparameters},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "safetensors": safetensors.__version__},
        "curve": result.curve[:: max(1, len(result.curve) // 200)],
    }
    save_weights(args.out, model, training=training, metrics=metrics)
    print(format_table(f"{args.out} ({result.steps} steps, {result.seconds:.0f} s)", metrics))
    print(f"figures: {', '.join(str(path) for path in report.run_figures(args.out, args.run_dir))}")


def train_classifier(args) -> None:
    images, labels, data = training_data(args)
    train_set = ColoredMNIST.mixture(images, labels, seed=args.seed)
    run_training(args, lambda device: ClassifierRecipe(device, ClassifierConfig(), lr=args.lr), train_set,
                 data, lambda recipe: recipe.model, {})


VAE_OBJECTIVES = {  # the defaults of each kind (docs/models.md: how they were chosen)
    "continuous": VAEObjective(beta=1.0),
    "discrete": VAEObjective(capacity_discrete=55.0, capacity_ramp_discrete=0.8, free_bits_discrete=1.0,
                             temperature_start=1.0, temperature_end=0.5),  # 55 of the 55.3 nats (24 log 10) it can hold
    "joint": VAEObjective(capacity_continuous=12.0, capacity_delay=0.4, capacity_ramp=0.8,
                          capacity_discrete=math.log(10), capacity_ramp_discrete=0.2, balance=10.0, consistency=100.0,
                          shear=0.3, thicken=1.0),
}
VAE_EPOCHS = {"continuous": 8, "discrete": 5, "joint": 8}
VAE_STARTS = {"continuous": 1, "discrete": 1, "joint": 3}  # the joint's code hangs on its start (docs/models.md)
VAE_LR = {"continuous": 1e-3, "discrete": 3e-3, "joint": 1e-3}  # peak learning rates
# The any-color set (--coloring any; docs/models.md, "Any color"): the continuous and joint VAEs without the
# encoder's dropout (it cost the continuous VAE 0.4-0.5 points of reconstructions read right, and the joint VAE its
# hue in fp32); the discrete VAE as on the palette; the joint VAE's second view repainted, its nearest neighbours,
# SCAN's agreement, the code out of the reconstruction's gradient, free bits and 35 nats for the continuous part
# (where the hue goes), InfoGAN's code cycle; the continuous VAE at 3x the learning rate and ten times the
# epochs (at 64, one seed of three missed 97% in bf16), the discrete VAE at three times the epochs, the joint VAE
# at 2x the learning rate (with 1e-3 seeds 1 and 2 did not learn the hue), 3x the epochs (at 16 and, in bf16, at
# 20, gray toggles missed 95% for a seed) and one start.
ANY_COLOR_OBJECTIVES = {
    "continuous": VAEObjective(beta=0.5),
    "discrete": VAE_OBJECTIVES["discrete"],
    "joint": dataclasses.replace(VAE_OBJECTIVES["joint"], recolor=1.0, neighbors=10, agreement="dot", code_detach=1.0,
                                 free_bits=1.0, capacity_continuous=35.0, capacity_delay=0.2, capacity_ramp=0.5,
                                 code_cycle=60.0),
}
ANY_COLOR_CONFIGS = {**PRESETS, **{kind: dataclasses.replace(PRESETS[kind], dropout=0.0) for kind in ("continuous", "joint")}}
ANY_COLOR_EPOCHS = {"continuous": 80, "discrete": 15, "joint": 24}
ANY_COLOR_STARTS = {"continuous": 1, "discrete": 1, "joint": 1}
ANY_COLOR_LR = {"continuous": 3e-3, "discrete": 3e-3, "joint": 2e-3}


@dataclass(frozen=True)
class VAEDefaults:
    """What `python -m train vae` uses for a kind and set unless told otherwise."""

    config: VAEConfig  # the architecture: the kind's preset, or the set's variant of it
    objective: VAEObjective
    epochs: int
    starts: int
    lr: float  # peak learning rate


def vae_recipe(kind: str, coloring: str, layout: LatentSpec | None = None) -> VAEDefaults:
    """A VAE's defaults: the any-color set's for `--coloring any`, else the palette's (the study's).

    With a `layout` (`--continuous N --categorical K ...`), the recipe of the kind that layout is (a continuous,
    discrete or joint latent: LatentSpec.kind) on that layout, its categorical capacity scaled to the layout: the
    same share of the most its codes can hold (the sum of log K) as the preset's (the discrete preset's 55 of
    24 log 10 nats; the joint preset's log 10 of log 10), so a code of more or fewer variables is neither starved
    nor given nats it cannot carry. The continuous capacity stays: a dimension takes what it can use."""
    layout = layout or PRESETS[kind].spec
    kind = layout.kind
    if coloring == "any":
        defaults = VAEDefaults(ANY_COLOR_CONFIGS[kind], ANY_COLOR_OBJECTIVES[kind], ANY_COLOR_EPOCHS[kind],
                               ANY_COLOR_STARTS[kind], ANY_COLOR_LR[kind])
    else:
        defaults = VAEDefaults(PRESETS[kind], VAE_OBJECTIVES[kind], VAE_EPOCHS[kind], VAE_STARTS[kind], VAE_LR[kind])
    if layout == PRESETS[kind].spec:
        return defaults
    config = dataclasses.replace(defaults.config, continuous=layout.continuous, categorical=layout.categorical)
    if not layout.categorical:
        return dataclasses.replace(defaults, config=config)
    share = sum(map(math.log, layout.categorical)) / sum(map(math.log, PRESETS[kind].categorical))
    return dataclasses.replace(defaults, config=config, objective=dataclasses.replace(
        defaults.objective, capacity_discrete=defaults.objective.capacity_discrete * share))


def layout_of(args) -> LatentSpec:
    """The latent layout `python -m train vae` was given: a preset's (--kind), or --continuous / --categorical.
    Raises SystemExit (argparse's one-line error) for both, neither, or an empty latent."""
    custom = args.continuous is not None or args.categorical is not None
    if custom == (args.kind is not None):
        raise SystemExit("give --kind (a preset) or a layout (--continuous N and/or --categorical K [K ...])"
                         + (", not both" if custom else ""))
    if not custom:
        return PRESETS[args.kind].spec
    layout = LatentSpec(args.continuous or 0, tuple(args.categorical or ()))
    if layout.size == 0:
        raise SystemExit("the latent is empty: --continuous 0 needs --categorical K [K ...]")
    return layout


def layout_name(layout: LatentSpec) -> str:
    """A layout's short name, for its default file: 3 continuous and 2 x 10 categorical -> "c3-k10-k10"; a
    preset's layout -> the preset's name."""
    for kind, config in PRESETS.items():
        if config.spec == layout:
            return kind
    return "-".join([f"c{layout.continuous}"] * bool(layout.continuous) + [f"k{k}" for k in layout.categorical])


TRIAL = 0.3  # with --starts N: the fraction of training after which the best of N starts is chosen


def vae_training_set(images, labels, coloring: str, objective: VAEObjective, seed: int = 0):
    """The digits a VAE trains on (`any`: a new color each time a digit is drawn); with each digit's
    nearest neighbours if its consistency term uses them."""
    train_set = AnyColor(images, labels) if coloring == "any" else ColoredMNIST(images, labels, coloring, seed=seed)
    if objective.consistency and objective.neighbors:
        train_set = WithNeighbors(train_set, nearest_neighbors(images, objective.neighbors))
    return train_set


def best_of_starts(starts: int, record: dict):
    """engine.fit as run_training calls it, but keeping the best of `starts` starts: the one whose code
    agrees best between the two views (code_mi) after TRIAL of training. Records each start's score."""
    def fit(make_recipe, train_set, settings):
        recipe, result, scores = engine.fit_best_start(make_recipe, train_set, settings, starts, TRIAL, "code_mi")
        record["start_scores"] = scores
        return recipe, result
    return fit


def train_vae(args) -> None:
    images, labels, data = training_data(args)
    preview = report.vae_preview(args.coloring)
    layout = layout_of(args)
    defaults = vae_recipe(layout.kind, args.coloring, layout)
    config = dataclasses.replace(defaults.config, **{key: tuple(value) if isinstance(value, list) else value
                                                     for key in ARCHITECTURE_OPTIONS
                                                     if (value := getattr(args, key)) is not None})
    overrides = {key: getattr(args, key) for key in VAE_OPTIONS if getattr(args, key) is not None}
    objective = dataclasses.replace(defaults.objective, **overrides)
    train_set = vae_training_set(images, labels, args.coloring, objective, args.seed)
    hyperparameters = {"kind": layout.kind, "preset": args.kind, **dataclasses.asdict(objective), "starts": args.starts}
    if args.starts > 1 and not objective.consistency:
        raise SystemExit("--starts chooses the start whose code agrees best between two views: it needs --consistency")
    fit = engine.fit if args.starts <= 1 else best_of_starts(args.starts, hyperparameters)
    run_training(args, lambda device: VAERecipe(device, config, objective, preview, lr=args.lr), train_set, data,
                 lambda recipe: recipe.model, hyperparameters, fit)


def train_cyclegan(args) -> None:
    images, labels, data = training_data(args)
    train_set = UnpairedDomains(images, labels, seed=args.seed)
    preview = report.cyclegan_preview()
    config = CycleGANConfig(generator_width=args.generator_width, residual_blocks=args.residual_blocks,
                            hue_conditioned=args.hue_conditioned)
    hyper = {"cycle_weight": 10.0, "identity_weight": 5.0, "pool_size": 50,
             **({"color_weight": 10.0} if args.hue_conditioned else {})}
    run_training(args, lambda device: CycleGANRecipe(device, config, preview, lr=args.lr, **hyper), train_set,
                 f"{data}, split into two disjoint halves", lambda recipe: recipe.model, hyper)


ALL_PROGRESS = RUNS / "all.json"  # the steps `train all` has finished, for `train all --resume`


def vae_name(kind: str, coloring: str) -> str:
    """A VAE's file and run folder name from its preset (or layout_name) and coloring: vae-joint (the study's
    palette), vae-joint-any (any color), vae-c3-k10-k10."""
    return f"vae-{kind}" + ("" if coloring == "digit" else f"-{coloring}")


def train_all(args) -> None:
    """Every shipped file from scratch, in order: the sample pack, the classifier (the judge of the
    later evaluations), the two sets of three VAEs (the study's palette, then any color), the 2-D VAE, the beta
    Lab's family (web/lab/), the CycleGAN
    and its hue-conditioned variant; then the page's decoders (web/) and the figures (docs/figures/).
    With --resume, an interrupted run continues: the steps it finished (recorded in runs/all.json) are
    skipped, and a step whose run folder holds a checkpoint resumes from it."""
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    vaes = [(["vae", "--kind", kind, *(["--coloring", coloring] if coloring != "digit" else [])], vae_name(kind, coloring))
            for coloring in ("digit", "any") for kind in PRESETS]  # the palette set, then the any-color set
    vaes.append((["vae", "--continuous", "2", "--coloring", "any", *PLANE_OPTIONS], "vae-2d-any"))  # the 2-D VAE
    steps = [(["sample-pack"], None), (["classifier"], "classifier"), *vaes, (["lab"], "lab"), (["cyclegan"], "cyclegan"),
             (["cyclegan-hue"], "cyclegan-hue"), (["web"], None), (["report"], None)]  # (command, its run folder)
    done = json.loads(ALL_PROGRESS.read_text()) if args.resume and ALL_PROGRESS.is_file() else []
    for command, run in steps:
        name = " ".join(command)
        if name in done:
            print(f"== python -m train {name}: done in the run being resumed", flush=True)
            continue
        resume = ["--resume"] if args.resume and run and any((RUNS / run).rglob(engine.CHECKPOINT)) else []
        command = command + resume + (data if command[0] not in ("web", "report") else [])  # those two read no MNIST
        print(f"== python -m train {' '.join(command)}", flush=True)
        if main(command) != 0:
            raise SystemExit(f"python -m train {name} failed (`python -m train all --resume` continues from here)")
        done.append(name)
        atomic_write(ALL_PROGRESS, lambda tmp: tmp.write_text(json.dumps(done, indent=1)))


def positive(kind: type):
    """An argparse type: a number of `kind` (int or float) above 0, else argparse's one-line error."""
    def parse(text: str):
        value = kind(text)
        if not value > 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"  # argparse's message: "invalid positive int value: 'x'"
    return parse


def categories(text: str) -> int:
    """An argparse type: a categorical variable's number of categories, 2 or more (one category carries nothing)."""
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be 2 or more, not {text}")
    return value


def fraction(text: str) -> float:
    """An argparse type: a float in [0, 1) (a dropout probability)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def add_training_options(parser: argparse.ArgumentParser, name: str, epochs: int, batch_size: int, lr: float) -> None:
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (default: $MNIST_DIR, else a download cache)")
    parser.add_argument("--sample-pack", action="store_true", help="train and test on the shipped 1000-digit sample pack (smoke runs)")
    parser.add_argument("--epochs", type=positive(int), default=epochs, help="default: " + (str(epochs) if epochs else "per kind"))
    parser.add_argument("--batch-size", type=positive(int), default=batch_size, help="global batch, split across torchrun processes")
    parser.add_argument("--lr", type=positive(float), default=lr, help="peak learning rate; default: " + (str(lr) if lr else "per kind"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=positive(int), help="stop after this many steps (smoke runs)")
    parser.add_argument("--precision", choices=engine.PRECISIONS, default="auto",
                        help="bf16 autocast or fp32; auto: bf16 where the hardware has native bf16 units (AMX, "
                             "AVX512-BF16, recent CUDA GPUs), else fp32")
    parser.add_argument("--run-dir", type=Path, default=RUNS / name, help="checkpoints, loss log, sample grids")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    parser.add_argument("--out", type=Path, default=Path("weights") / f"{name}.safetensors")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    classifier = commands.add_parser("classifier", help="the digit classifier (judge of every evaluation)")
    add_training_options(classifier, "classifier", epochs=4, batch_size=256, lr=3e-3)
    classifier.set_defaults(run=train_classifier)

    vae = commands.add_parser("vae", help="a VAE with a continuous, discrete or joint latent")
    vae.add_argument("--kind", choices=list(PRESETS), help="a preset latent: " + "; ".join(
        f"{kind}: {config.continuous} continuous" + (f" + {len(config.categorical)} x {config.categorical[0]} categorical"
                                                      if config.categorical else "") for kind, config in PRESETS.items()))
    vae.add_argument("--continuous", type=int, metavar="N", help="or a layout of your own: N Gaussian dimensions ...")
    vae.add_argument("--categorical", type=categories, nargs="+", metavar="K",
                     help="... and/or one categorical variable of K categories per number (e.g. 10 10); the recipe "
                          "is that of the kind the layout is (continuous, discrete or joint), its code's capacity "
                          "scaled to the layout")
    vae.add_argument("--coloring", choices=TRAINING_COLORINGS, default="digit",
                     help="digit: the study's palette; any: random hues, white and the palette at random brightness")
    add_training_options(vae, "vae-{kind}", epochs=None, batch_size=256, lr=None)
    for key in VAE_OPTIONS:
        vae.add_argument(f"--{key.replace('_', '-')}", type=type(getattr(VAEObjective(), key)),
                         choices=AGREEMENTS if key == "agreement" else None, help=f"objective: {key} (default: per kind)")
    vae.add_argument("--channels", type=positive(int), nargs=2, metavar=("C1", "C2"),
                     help=f"architecture: the two convolution layers' channels (default: {VAEConfig.channels})")
    vae.add_argument("--hidden", type=positive(int), help=f"architecture: the encoder's linear layer (default: {VAEConfig.hidden})")
    vae.add_argument("--dropout", type=fraction, help=f"architecture: dropout after it (default: {VAEConfig.dropout}; with --coloring any: "
                     f"{', '.join(f'{k} {c.dropout}' for k, c in ANY_COLOR_CONFIGS.items())})")
    vae.add_argument("--starts", type=positive(int), help=f"train N starts (seeds seed..seed+N-1) for {TRIAL:.0%}% of the steps, "
                     "continue the one whose code agrees best between the two views (default: per kind and set, "
                     f"{', '.join(f'{k} {n}' for k, n in VAE_STARTS.items())}; with --coloring any: "
                     f"{', '.join(f'{k} {n}' for k, n in ANY_COLOR_STARTS.items())})")
    vae.set_defaults(run=train_vae)

    cyclegan = commands.add_parser("cyclegan", help="the CycleGAN between gray and randomly colored digits")
    add_training_options(cyclegan, "cyclegan", epochs=3, batch_size=32, lr=2e-4)
    cyclegan.add_argument("--generator-width", type=positive(int), default=CycleGANConfig.generator_width)
    cyclegan.add_argument("--residual-blocks", type=int, default=CycleGANConfig.residual_blocks)
    cyclegan.set_defaults(run=train_cyclegan, hue_conditioned=False)
    cyclegan_hue = commands.add_parser("cyclegan-hue", help="the CycleGAN whose gray -> color generator paints in a chosen color")
    add_training_options(cyclegan_hue, "cyclegan-hue", epochs=2, batch_size=32, lr=2e-4)
    cyclegan_hue.add_argument("--generator-width", type=positive(int), default=CycleGANConfig.generator_width)
    cyclegan_hue.add_argument("--residual-blocks", type=int, default=CycleGANConfig.residual_blocks)
    cyclegan_hue.set_defaults(run=train_cyclegan, hue_conditioned=True)

    beta_lab = commands.add_parser("lab", help="the beta Lab's family: the 2-D VAE at each beta, with snapshots during "
                                   "training, for the app's Lab tab (web/lab/)")
    beta_lab.add_argument("--betas", type=positive(float), nargs="+", default=list(lab.LAB_BETAS))
    beta_lab.add_argument("--epochs", type=positive(int), default=lab.LAB_EPOCHS)
    beta_lab.add_argument("--lr", type=positive(float), default=lab.LAB_LR)
    beta_lab.add_argument("--seed", type=int, default=0)
    beta_lab.add_argument("--snapshots", type=int, choices=range(2, 41), metavar="2..40", default=lab.SNAPSHOTS,
                          help="kept per beta: step 0, then steps spaced evenly on a log scale")
    beta_lab.add_argument("--precision", choices=engine.PRECISIONS, default="auto")
    beta_lab.add_argument("--max-steps", type=positive(int), help="stop each run after this many steps (smoke runs)")
    beta_lab.add_argument("--data-dir")
    beta_lab.add_argument("--sample-pack", action="store_true", help="train and test on the sample pack (smoke runs)")
    beta_lab.add_argument("--out", type=Path, default=lab.LAB_DIR)
    beta_lab.add_argument("--run-dir", type=Path, default=lab.RUN_DIR)
    beta_lab.add_argument("--resume", action="store_true", help="keep the snapshots made, continue each run from its checkpoint")
    beta_lab.set_defaults(run=lambda a: print(lab.train_lab(lab.LabSettings(
        tuple(sorted(set(a.betas))), a.epochs, a.lr, seed=a.seed, precision=a.precision, snapshots=a.snapshots,
        max_steps=a.max_steps, sample_pack=a.sample_pack, data_dir=a.data_dir), a.out, a.run_dir, a.resume)))

    everything = commands.add_parser("all", help="every shipped weights file and the sample pack, from scratch")
    everything.add_argument("--data-dir")
    everything.add_argument("--resume", action="store_true",
                            help="continue an interrupted `train all`: skip the steps it finished, resume the one it was in")
    everything.set_defaults(run=train_all)

    evaluate_cmd = commands.add_parser("evaluate", help="print and record the test metrics of a weights file")
    evaluate_cmd.add_argument("path", type=Path)
    evaluate_cmd.add_argument("--data-dir")
    evaluate_cmd.add_argument("--sample-pack", action="store_true",
                              help="a quick check on the sample pack (printed, not recorded)")
    evaluate_cmd.set_defaults(run=lambda a: print(format_table(str(a.path), evaluate_file(a.path, a.data_dir, a.sample_pack))))

    page = commands.add_parser("web", help="export the VAE decoders for the page (web/models/) and copy its runtime "
                               "(web/vendor/, from `npm ci`)")
    page.add_argument("--weights-dir", type=Path, default=Path("weights"))
    page.add_argument("--out", type=Path, default=Path("web"))
    page.add_argument("--npm-package", type=Path, default=web.NPM_PACKAGE, help="the runtime's npm package folder")
    page.set_defaults(run=lambda a: print("\n".join(map(str, web.export_web(a.weights_dir, a.out, a.npm_package)))))

    figures = commands.add_parser("report", help="redraw the figures of the shipped weights files (docs/figures/)")
    figures.add_argument("--weights-dir", type=Path, default=Path("weights"))
    figures.add_argument("--out", type=Path, default=Path("docs") / "figures")
    figures.set_defaults(run=lambda a: print("\n".join(map(str, report.report(a.weights_dir, a.out)))))

    pack = commands.add_parser("sample-pack", help="write the shipped sample pack from the MNIST test set")
    pack.add_argument("--data-dir")
    pack.add_argument("--per-class", type=positive(int), default=100)
    pack.add_argument("--out", type=Path, default=SAMPLE_PACK)
    pack.set_defaults(run=lambda a: print(make_sample_pack(a.out, a.data_dir, a.per_class)))

    factors = commands.add_parser("factors", help="measure the MNIST test digits' morphometrics (Morpho-MNIST) into "
                                  "the shipped factor pack")
    factors.add_argument("--data-dir")
    factors.add_argument("--workers", type=positive(int), default=2, help="processes measuring at once")
    factors.add_argument("--out", type=Path, default=FACTOR_PACK)
    factors.set_defaults(run=lambda a: print(make_factor_pack(a.out, a.data_dir, a.workers)))

    args = parser.parse_args(argv)
    if args.command == "vae":  # names that depend on the layout and coloring
        if args.continuous is not None and args.continuous < 0:
            parser.error(f"argument --continuous: must be 0 or more, not {args.continuous}")
        try:
            layout = layout_of(args)
        except SystemExit as refusal:
            parser.error(str(refusal))
        name = vae_name(layout_name(layout), args.coloring)
        args.out = Path(str(args.out).replace("vae-{kind}", name))
        args.run_dir = RUNS / args.out.stem if args.run_dir == RUNS / "vae-{kind}" else args.run_dir  # named as its file
        defaults = vae_recipe(layout.kind, args.coloring, layout)
        for key in ("epochs", "starts", "lr"):
            if getattr(args, key) is None:
                setattr(args, key, getattr(defaults, key))
    try:
        args.run(args)
    except (DataError, WeightsError, FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
