"""The explorer's front door: `python app.py [--weights PATH ...]` (port from GRADIO_SERVER_PORT, default 7860)."""

import argparse

import torch

from explorer.explore import Explorer
from explorer.registry import WEIGHTS_ENV, user_paths
from explorer.ui import build_app, launch_options

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", nargs="+", action="extend", default=[], metavar="PATH",
                        help=f"VAE weights files, or folders of them, to explore beside the shipped ones (also: the "
                             f"environment variable {WEIGHTS_ENV}, paths separated by ':')")
    args = parser.parse_args()
    torch.set_num_threads(1)  # events run in parallel threads; each model call is small
    build_app(Explorer(named=user_paths(args.weights)), start_worker=True).launch(**launch_options())
