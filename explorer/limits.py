"""What one request to the app may cost: every limit of the server in one place, with its reason.

gradio 6.31 bounds the uploads only (`max_file_size`); its other routes read whatever a client sends. The
limits here cover the rest (docs/app.md lists every route with what it accepts and what it refuses):

- `BodyLimit`, an ASGI middleware (no gradio in it), refuses a request body larger than its route needs
  with HTTP 413 and a one-line message, before the body is read where the client says its length, and as
  soon as it passes the limit where it does not (a chunked body);
- the sketch pads' blob route (`/gradio_api/component_server`, `accept_blobs`) takes only what a pad
  sends and keeps only so much (explorer/ui/components.py's `Sketchpad`, with the figures below);
- sessions, waiting events and the upload cache are bounded by gradio's own settings, given here
  (QUEUE_EVENTS, SESSION_CAPACITY) and in explorer/ui/app.py (`launch_options`, `build_app`: cached files
  deleted after 10 minutes).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable

KB, MB = 1024, 1024 * 1024

# A photo of a digit needs a few MB; larger uploads are refused before they are stored (gradio's
# max_file_size answers HTTP 413 "File size exceeded maximum allowed size of 10485760 bytes.").
MAX_UPLOAD_BYTES = 10 * MB
# A multipart form around one upload: its boundaries and part headers take well under a kilobyte.
FORM_OVERHEAD_BYTES = 64 * KB
# Every other request is a JSON call (an event, /call/<endpoint>) or a small form. The largest valid one
# is /interpolate from the page with two pictures inline as data URLs (28 x 28 PNGs, under 4 KB each);
# a z is at most 240 numbers. 256 KB is 30 times that.
JSON_BODY_BYTES = 256 * KB
# The sketch pads' canvas is 280 x 280: a PNG of it is at most 280 * 280 * 4 bytes plus its headers
# (314 KB); a drawing is typically 5-20 KB.
BLOB_BYTES = 512 * KB
# The pads show one layer (layers=False): the page sends layer 0 only. gradio grows a list up to any
# index a client names (an index of 100,000,000 took 76 MB).
BLOB_LAYERS = 1
# The page names each drawing by a random id of 11 characters.
BLOB_ID_LENGTH = 64
# What a pad keeps of drawings sent but not yet used by their event (gradio keeps each until its event
# comes, which a client may never send): the oldest are dropped past this. A class of 30 drawing at once
# holds about 30 x 20 KB.
BLOB_STORE_BYTES = 8 * MB

# Events waiting in gradio's queue, all pages and API clients together (beyond it: "Queue is full"): a class
# of 30 opening the page at once queues about 30 x 8 load events; each waiting event holds its inputs (at
# most JSON_BODY_BYTES), so the queue holds at most 256 MB.
QUEUE_EVENTS = 1024
# Sessions whose state gradio keeps (its default is 10,000): each holds a copy of the config of every
# block, about 0.5 MB here (+15 MB per 32 new pages, with no end), so at most 100 MB; 200 holds a class of
# 30 reloading their pages several times.
SESSION_CAPACITY = 200

# The largest body each route takes (path suffixes, after any root path); any other route: JSON_BODY_BYTES.
BODY_LIMITS = {
    "/gradio_api/upload": MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES,
    "/gradio_api/component_server": BLOB_BYTES + FORM_OVERHEAD_BYTES,
    "/gradio_api/component_server/": BLOB_BYTES + FORM_OVERHEAD_BYTES,
}


def body_limit(path: str) -> int:
    """The largest request body (bytes) that the route at `path` takes (BODY_LIMITS, else JSON_BODY_BYTES)."""
    for suffix, limit in BODY_LIMITS.items():
        if path.endswith(suffix):
            return limit
    return JSON_BODY_BYTES


def too_large(limit: int) -> str:
    """The one-line message of a refused body."""
    return f"The request is too large: this route takes at most {limit:,} bytes."


class BodyLimit:
    """ASGI middleware: a request whose body is larger than `limit(path)` bytes gets HTTP 413 with a JSON
    body {"detail": too_large(...)} and the app never sees it whole. A declared Content-Length over the
    limit is refused before anything is read; a body without one (chunked) is counted as it arrives and
    refused when it passes the limit (the app then reads a disconnect and its own answer is dropped).

    Used as `FastAPI(middleware=[Middleware(BodyLimit)])` (launch's app_kwargs)."""

    def __init__(self, app, limit: Callable[[str], int] = body_limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _refuse(send, limit)
        received, refused, started = 0, False, False

        async def counted_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return  # the 413 is ours
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await _refuse(send, limit)


async def _refuse(send, limit: int) -> None:
    body = json.dumps({"detail": too_large(limit)}).encode()  # as FastAPI's and gradio's own errors
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BoundedStore(OrderedDict):
    """A dict that keeps at most `max_bytes` of values, dropping the oldest entries first; an entry larger than
    that alone is not kept. Each value's size (`size(value)`) is taken when it is stored, and that same figure
    is given back when it leaves: a value changed in place and stored again (as gradio adds a drawing's parts
    one by one) is counted at its new size. For the sketch pads' drawings waiting for their event."""

    def __init__(self, max_bytes: int, size: Callable[[object], int]):
        super().__init__()
        self.max_bytes, self.size, self.bytes = max_bytes, size, 0
        self._sizes: dict = {}  # key -> its value's size when stored
        self.lock = threading.RLock()  # the server's threads store and take drawings at once

    def __setitem__(self, key, value):
        with self.lock:
            self.pop(key, None)
            super().__setitem__(key, value)
            self._sizes[key] = self.size(value)
            self.bytes += self._sizes[key]
            while self.bytes > self.max_bytes and self:
                self.popitem(last=False)

    def __delitem__(self, key):
        self.pop(key)

    def pop(self, key, *default):
        with self.lock:
            if key in self:
                value = super().pop(key)
                self.bytes -= self._sizes.pop(key)
                return value
            return super().pop(key, *default)

    def popitem(self, last: bool = True):
        with self.lock:
            key, value = super().popitem(last)
            self.bytes -= self._sizes.pop(key)
            return key, value
