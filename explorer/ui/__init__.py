"""The Gradio app, one module per tab, built on the library's `Explorer` (explorer/explore.py); no model math here.

- app.py: build_app (the tabs, the banner of unusable files) and launch_options (the limits of every request);
- reconstruct.py, interpolate.py, sliders.py (with factor_sliders.py), translate.py, models.py: each tab's layout, its
  events and its part of `Callbacks` (callbacks.py puts the parts together; tested without a server);
- components.py: the shared components (pictures, the digit input, the choice of a VAE, the page's scripts);
- checks.py: the shared input checks and error messages; glossary.py: the words for the metrics and factors;
- worker.py: the process that reads pictures and runs the models.

The public API: /reconstruct, /interpolate, /decode, /controls, /traversal, /measure_factors, /translate, /model_card
(docs/app.md).
"""

from .app import build_app, launch_options

__all__ = ["build_app", "launch_options"]
