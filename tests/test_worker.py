"""The app's worker process (explorer/ui/worker.py: Worker): the events that read pictures and run the models give
the same answers there as in the server's own process, their errors come back as the same messages, and a
worker that dies is replaced."""

import os
import signal

import gradio as gr
import numpy as np
import pytest

from explorer.explore import Explorer
from explorer.ui.callbacks import Callbacks
from explorer.ui.worker import Worker


@pytest.fixture(scope="module")
def here_and_there():
    explorer = Explorer()
    worker = Worker(explorer)
    yield Callbacks(explorer), Callbacks(explorer, worker)
    worker._executor().shutdown()


def test_the_worker_answers_as_the_server_would(here_and_there, pack):
    here, there = here_and_there
    images, labels = pack
    drawing = np.repeat(255 - np.asarray(images[labels == 4][0]), 10, axis=0).repeat(10, axis=1)  # 280 x 280, dark on white
    for picture in (here.sample(4, 0, "digit"), drawing):
        local, remote = here.reconstruct(picture), there.reconstruct(picture)
        assert len(local) == len(remote) == 3 * 7 + 1  # every VAE (the two sets and the 2-D VAE), then the reading
        for a, b in zip(local, remote):
            assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
    assert np.array_equal(here.prepare_drawing({"composite": drawing}), there.prepare_drawing({"composite": drawing}))
    assert there.prepare_drawing({"composite": np.full((280, 280, 3), 255, np.uint8)}) == gr.skip()  # a cleared pad


def test_errors_in_the_worker_are_messages_here(here_and_there):
    _, there = here_and_there
    with pytest.raises(gr.Error, match="empty"):
        there.reconstruct(np.zeros((64, 64), np.uint8))
    with pytest.raises(gr.Error, match="There is no image"):
        there.prepare(None)


def test_a_worker_that_dies_is_replaced(here_and_there):
    here, there = here_and_there
    sample = here.sample(1, 0, "gray")
    there.reconstruct(sample)
    for pid in list(there.worker._pool._processes):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(gr.Error, match="worker process stopped"):
        there.reconstruct(sample)
    assert "reads the input as **1**" in there.reconstruct(sample)[-1]  # a new worker
