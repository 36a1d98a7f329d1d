"""`Callbacks`: what every event of every tab computes, as plain Python on numpy pictures and strings (tested without a
server). Each tab's module holds its own part; this class puts them together."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..explore import Explorer
from .components import InputCallbacks
from .factor_sliders import FactorCallbacks
from .interpolate import InterpolateCallbacks
from .models import ModelsCallbacks
from .reconstruct import ReconstructCallbacks
from .sliders import SliderCallbacks
from .translate import TranslateCallbacks
from .worker import Worker


class Callbacks(InputCallbacks, ReconstructCallbacks, InterpolateCallbacks, SliderCallbacks, FactorCallbacks,
                TranslateCallbacks, ModelsCallbacks):
    """Every tab's events on one Explorer; the `in_worker` ones run in `worker` where there is one."""

    def __init__(self, explorer: Explorer, worker: Worker | None = None):
        self.explorer, self.worker = explorer, worker
        self.gif_dir = Path(tempfile.mkdtemp(prefix="explorer-gifs-"))  # the Interpolate tab's GIFs
