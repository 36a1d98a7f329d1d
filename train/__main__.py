"""The training CLI: python -m train {classifier, evaluate, sample-pack} --help."""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import safetensors
import torch
import torch.distributed as dist

from explorer.classifier import ClassifierConfig
from explorer.data import SAMPLE_PACK, ColoredMNIST, DataError, load_mnist, load_sample_pack, make_sample_pack
from explorer.weights import WeightsError, save_weights

from . import engine
from .evaluate import evaluate, evaluate_file, format_table
from .recipes import ClassifierRecipe


def training_data(args) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The training digits (uint8 images, labels) and where they came from."""
    if args.sample_pack:
        images, labels = load_sample_pack()
        return images, labels, f"sample pack {SAMPLE_PACK.name} ({len(labels)} MNIST test digits; smoke runs only)"
    images, labels = load_mnist("train", args.data_dir)
    return images, labels, f"MNIST train set ({len(labels)} images)"


def run_training(args, make_recipe, train_set, data: str, model_of) -> None:
    """Fit on the engine, then (main process) evaluate on the test set and write the weights file."""
    settings = engine.Settings(run_dir=args.run_dir, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                               resume=args.resume, max_steps=args.max_steps, bf16=not args.fp32,
                               channels_last=not args.fp32)
    recipe, result = engine.fit(make_recipe, train_set, settings)
    if dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return
    model = model_of(recipe).to("cpu", memory_format=torch.contiguous_format).eval()
    metrics = evaluate(model, args.data_dir, sample_pack=args.sample_pack)
    training = {
        "data": data, "coloring": train_set.coloring, "epochs": result.epochs, "steps": result.steps,
        "batch_size": args.batch_size, "seconds": result.seconds, "seed": result.seed, "device": result.device,
        "processes": result.world_size, "precision": "fp32" if args.fp32 else "bf16 autocast",
        "lr": args.lr,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "safetensors": safetensors.__version__},
        "curve": result.curve[:: max(1, len(result.curve) // 200)],
    }
    save_weights(args.out, model, training=training, metrics=metrics)
    print(format_table(f"{args.out} ({result.steps} steps, {result.seconds:.0f} s)", metrics))


def train_classifier(args) -> None:
    images, labels, data = training_data(args)
    train_set = ColoredMNIST.mixture(images, labels, seed=args.seed)
    run_training(args, lambda device: ClassifierRecipe(device, ClassifierConfig(), lr=args.lr), train_set,
                 data, lambda recipe: recipe.model)


def add_training_options(parser: argparse.ArgumentParser, name: str, epochs: int, batch_size: int, lr: float) -> None:
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (default: $MNIST_DIR, else a download cache)")
    parser.add_argument("--sample-pack", action="store_true", help="train and test on the shipped 1000-digit sample pack (smoke runs)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size, help="global batch, split across torchrun processes")
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    parser.add_argument("--fp32", action="store_true", help="plain fp32, contiguous tensors (default: bf16 autocast, channels_last)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs") / name, help="checkpoints, loss log, sample grids")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    parser.add_argument("--out", type=Path, default=Path("weights") / f"{name}.safetensors")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    classifier = commands.add_parser("classifier", help="the digit classifier (judge of every evaluation)")
    add_training_options(classifier, "classifier", epochs=4, batch_size=256, lr=3e-3)
    classifier.set_defaults(run=train_classifier)

    evaluate_cmd = commands.add_parser("evaluate", help="print and record the test metrics of a weights file")
    evaluate_cmd.add_argument("path", type=Path)
    evaluate_cmd.add_argument("--data-dir")
    evaluate_cmd.add_argument("--sample-pack", action="store_true",
                              help="a quick check on the sample pack (printed, not recorded)")
    evaluate_cmd.set_defaults(run=lambda a: print(format_table(str(a.path), evaluate_file(a.path, a.data_dir, a.sample_pack))))

    pack = commands.add_parser("sample-pack", help="write the shipped sample pack from the MNIST test set")
    pack.add_argument("--data-dir")
    pack.add_argument("--per-class", type=int, default=100)
    pack.add_argument("--out", type=Path, default=SAMPLE_PACK)
    pack.set_defaults(run=lambda a: print(make_sample_pack(a.out, a.data_dir, a.per_class)))

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (DataError, WeightsError, FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
