"""The worker process that reads pictures and runs the models for the events marked `in_worker`."""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import torch

from ..explore import Explorer, ExplorerError


def in_worker(method):
    """A Callbacks method that reads a picture at full size and runs the models: run in the app's worker
    process where the Callbacks has one (build_app's), else here. Below user_errors, so that its errors
    (ImageError, ExplorerError) come back from the worker as they are and become messages here."""

    @functools.wraps(method)
    def wrapper(self, *args):
        if self.worker is not None:
            return self.worker.run(method.__name__, *args)
        return method(self, *args)

    return wrapper


class Worker:
    """The picture-reading and model work of the events (Callbacks' `in_worker` methods) in a process of its
    own, with its own Explorer loaded from the same files: the server's threads share one Python lock (the
    GIL), which that work held for about 20 ms of each drawing, while gradio's own handling needs it too. With
    it, 30 clients drawing at once are served as fast as by a gradio app that returns the same outputs
    precomputed (docs/performance.md). Started at the first call, or by `start` (app.py: at launch).
    A worker that died (killed, out of memory) is started again at the next call; the call that found it
    dead gets ExplorerError."""

    def __init__(self, explorer: Explorer):
        self.places = (str(explorer.weights_dir), str(explorer.sample_pack), explorer.files, os.getpid())
        self._pool, self._lock = None, threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=self.places)
            return self._pool

    def start(self) -> None:
        """Start the process now (it loads the models and exports /reconstruct's graph: about 4 s, in the background)."""
        self._executor().submit(int)

    def run(self, method: str, *args):
        """Callbacks.<method>(*args) in the worker: its result, or its error raised here."""
        pool = self._executor()
        try:
            return pool.submit(_run_in_worker, method, *args).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise ExplorerError("The app's worker process stopped while reading this picture; it is starting "
                                "again: send the picture once more.") from None


_worker_callbacks = None  # in the worker process: its own Callbacks (_start_worker)


def _start_worker(weights_dir: str, sample_pack: str, files: list, server: int) -> None:
    """The worker process's start: its Callbacks, on one thread, with /reconstruct's graph exported where it
    can be (an export that fails says why at the first /reconstruct, as that event's error); it ignores
    Ctrl-C (the server's to handle) and ends when the server does, however the server ends."""
    from .callbacks import Callbacks  # here: callbacks.py imports this module (in_worker)

    global _worker_callbacks
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(server,), daemon=True).start()
    torch.set_num_threads(1)
    _worker_callbacks = Callbacks(Explorer(weights_dir, sample_pack, files=files))  # the server's VAE files
    try:
        _worker_callbacks.explorer.reconstruction_session()
    except Exception:  # noqa: BLE001 (a missing classifier, a failed export: reported by the event that needs it)
        pass


def _end_with(server: int) -> None:
    """End this process once the process `server` (its parent, named when it was started) is gone: a server
    killed, or ended by SIGTERM, does not shut its worker down, which would stay, holding 800 MB."""
    while os.getppid() == server:
        time.sleep(1)
    os._exit(0)


def _run_in_worker(method: str, *args):
    """In the worker process: Callbacks.<method> without its user_errors wrapper. Its errors travel as they
    are; one that would not arrive whole (an exception that cannot be unpickled breaks the pool on the server's
    side) travels as a RuntimeError that names it."""
    try:
        return getattr(type(_worker_callbacks), method).__wrapped__(_worker_callbacks, *args)
    except Exception as error:
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:  # noqa: BLE001 (any failure to travel)
            raise RuntimeError(f"{type(error).__name__}: {error}") from None
        raise
