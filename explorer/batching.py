"""Dynamic batching: the model work of concurrent requests done in one pass.

A server answers each request in its own thread. Each of the explorer's models is small, so one image
costs about as much Python (module calls) as eight; a class of students drawing at once sends many
single images at the same moment. `Batcher` lets every request's thread hand its item in and get its own
result back, while the items that arrive while a batch runs are computed together in the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot:
    __slots__ = ("item", "result", "error", "done")

    def __init__(self, item):
        self.item, self.result, self.error, self.done = item, None, None, False


class Batcher(Generic[Item, Result]):
    """`batcher(item)` returns `function([item, ...])[i]` for its own item, computed in one call of
    `function` with the items of the callers waiting at the same time (at most `max_size` of them).

    No thread of its own: the callers take turns running a batch (a lock), and the one whose turn it is
    runs every pending item, its own first, so a caller alone waits for nothing. `function` takes a list
    of items and returns a list of results in the same order; if it raises, every caller of that batch
    gets the error."""

    def __init__(self, function: Callable[[list[Item]], Sequence[Result]], max_size: int = 16):
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self.function, self.max_size = function, max_size
        self._pending: list[_Slot] = []
        self._pending_lock = threading.Lock()  # guards _pending
        self._turn = threading.Lock()  # one batch at a time

    def __call__(self, item: Item) -> Result:
        slot = _Slot(item)
        with self._pending_lock:
            self._pending.append(slot)
        with self._turn:
            if not slot.done:  # no earlier batch took it: run it with whatever else waits
                with self._pending_lock:
                    self._pending.remove(slot)
                    batch, self._pending = [slot, *self._pending[:self.max_size - 1]], self._pending[self.max_size - 1:]
                try:
                    results = self.function([s.item for s in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"a batch of {len(batch)} items gave {len(results)} results")
                    for s, result in zip(batch, results):
                        s.result = result
                except Exception as error:
                    for s in batch:
                        s.error = error
                for s in batch:
                    s.done = True
        if slot.error is not None:
            raise slot.error
        return slot.result
