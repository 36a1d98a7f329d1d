"""The explorer's front door: `python app.py` (port from GRADIO_SERVER_PORT, default 7860)."""

import torch

from explorer.ui import SESSION_CAPACITY, STYLE, build_app

if __name__ == "__main__":
    torch.set_num_threads(1)  # events run in parallel threads; each model call is small
    build_app().launch(css=STYLE, state_session_capacity=SESSION_CAPACITY)
