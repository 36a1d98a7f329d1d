"""The explorer's front door: `python app.py` (port from GRADIO_SERVER_PORT, default 7860)."""

from explorer.ui import STYLE, build_app

if __name__ == "__main__":
    build_app().launch(css=STYLE)
