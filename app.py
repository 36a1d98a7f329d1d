"""The explorer's front door: `python app.py` (port from GRADIO_SERVER_PORT, default 7860)."""

import torch

from explorer.ui import build_app, launch_options

if __name__ == "__main__":
    torch.set_num_threads(1)  # events run in parallel threads; each model call is small
    build_app(start_worker=True).launch(**launch_options())
