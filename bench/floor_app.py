"""Gradio's floor for /reconstruct (python -m bench's classroom): a minimal gradio app with the same input and
the same 19 outputs as the explorer's Reconstruct tab (12 pictures, 7 markdown texts), in plain gradio
components, whose function returns them precomputed. What a drawing costs here is gradio's own handling:
the upload, the event, the outputs' encoding. Started by the bench as `python bench/floor_app.py`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradio as gr  # noqa: E402

from bench.classroom import floor_outputs  # noqa: E402

OUTPUTS = floor_outputs()

with gr.Blocks() as app:
    source = gr.Image(type="filepath")
    outputs = [gr.Image(format="png") if i < 18 and i % 3 != 2 else gr.Markdown() for i in range(len(OUTPUTS))]
    source.change(lambda _: OUTPUTS, source, outputs, api_name="reconstruct")

if __name__ == "__main__":
    app.queue(default_concurrency_limit=4).launch(max_file_size="10mb")
