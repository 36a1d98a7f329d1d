"""What one request may cost (explorer/limits.py): the limits on their own, then through `python app.py` in a
process of its own, whose resident memory (RSS) and cache on disk are read before and after."""

import asyncio
import io
import json
import os
import uuid
from pathlib import Path

import httpx
import numpy as np
import PIL.Image
import pytest

from bench.app_load import Server, resident_mb
from explorer.limits import (BLOB_BYTES, BLOB_STORE_BYTES, FORM_OVERHEAD_BYTES, JSON_BODY_BYTES, MAX_UPLOAD_BYTES, BodyLimit,
                             BoundedStore, body_limit, too_large)
from .conftest import ROOT

GROWTH_MB = 50  # what the issue allows one request to leave behind; each test sends many


async def echo(scope, receive, send):
    """An ASGI app that reads the whole body and answers its length."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RuntimeError("the client went away")
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def post(path: str, content) -> httpx.Response:
    async def run():
        transport = httpx.ASGITransport(app=BodyLimit(echo))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.post(path, content=content)
    return asyncio.run(run())


def test_each_route_has_its_body_limit():
    assert body_limit("/gradio_api/upload") == MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES
    assert body_limit("/vae/gradio_api/upload") == MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES  # behind a proxy's sub-path
    assert body_limit("/gradio_api/component_server") == BLOB_BYTES + FORM_OVERHEAD_BYTES
    assert body_limit("/gradio_api/call/decode") == body_limit("/gradio_api/queue/join") == JSON_BODY_BYTES


def test_a_body_over_its_limit_is_refused_declared_or_chunked():
    assert post("/gradio_api/call/decode", b"x" * JSON_BODY_BYTES).text == str(JSON_BODY_BYTES)
    declared = post("/gradio_api/call/decode", b"x" * (JSON_BODY_BYTES + 1))
    assert declared.status_code == 413 and declared.json() == {"detail": too_large(JSON_BODY_BYTES)}

    async def chunks(count):  # no Content-Length: the middleware counts as the body arrives
        for _ in range(count):
            yield b"x" * 65536

    assert post("/gradio_api/call/decode", chunks(4)).text == str(4 * 65536)
    chunked = post("/gradio_api/call/decode", chunks(5))
    assert chunked.status_code == 413 and chunked.json() == {"detail": too_large(JSON_BODY_BYTES)}
    assert post("/gradio_api/upload", chunks(100)).text == str(100 * 65536)  # 6.5 MB: an upload may


def test_the_bounded_store_drops_the_oldest_first():
    store = BoundedStore(10, size=len)
    store["a"], store["b"] = b"1234", b"5678"
    store["c"] = b"90ab"  # 12 bytes: "a" goes
    assert list(store) == ["b", "c"] and store.bytes == 8
    assert store.pop("b") == b"5678" and store.bytes == 4 and store.pop("b", None) is None
    store["d"] = b"x" * 11  # larger than the store alone: not kept
    assert list(store) == [] and store.bytes == 0
    grown = BoundedStore(100, size=len)  # a value changed in place, then stored again (gradio adds a drawing's parts)
    part = bytearray(b"x")
    grown["id"] = part
    part.extend(b"y" * 49)
    grown["id"] = part
    assert grown.bytes == 50
    del grown["id"]
    assert grown.bytes == 0 and len(grown) == 0


# ----------------------------------------------------------------------------- through a running server


@pytest.fixture(scope="module")
def server():
    """The app, warm: its /reconstruct graph exported (at start-up, in the background: +140 MB, once)."""
    server = Server()
    picture = {"path": upload(server, (ROOT / "tests" / "cases" / "exif_rot6_7.jpg").read_bytes()),
               "meta": {"_type": "gradio.FileData"}}
    assert "event: complete" in call(server, "reconstruct", [picture])
    yield server
    server.close()


def upload(server, data: bytes, name: str = "picture.png") -> str:
    """Upload a file; its path on the server."""
    response = httpx.post(f"{server.url}/gradio_api/upload", files={"files": (name, data)}, timeout=60)
    response.raise_for_status()
    return response.json()[0]


def call(server, endpoint: str, data: list) -> str:
    """POST /gradio_api/call/<endpoint>, then its event stream, whole."""
    event = httpx.post(f"{server.url}/gradio_api/call/{endpoint}", json={"data": data}, timeout=60)
    return httpx.get(f"{server.url}/gradio_api/call/{endpoint}/{event.json()['event_id']}", timeout=120).text


def sketch_pad(server) -> int:
    """The component id of the Reconstruct tab's sketch pad (the first; the config of a tab not yet shown has
    no props to tell them apart)."""
    config = httpx.get(f"{server.url}/config").json()
    return next(c["id"] for c in config["components"] if c["type"] == "imageeditor")


def blob(server, pad: int, data: bytes, index="0", kind="layer", blob_id=None) -> httpx.Response:
    fields = {"component_id": str(pad), "session_hash": "limits", "fn_name": "accept_blobs",
              "id": blob_id or uuid.uuid4().hex[:11], "type": kind, "index": index}
    return httpx.post(f"{server.url}/gradio_api/component_server", data=fields,
                      files={"file": ("layer.png", data, "image/png")}, timeout=60)


def still_answers(server) -> None:
    """/decode answers with a picture."""
    stream = call(server, "decode", ["joint", json.dumps([0.0] * 10 + [1] + [0] * 9)])
    assert "event: complete" in stream and "data:image/png;base64," in stream


def grows_by_mb(server, requests) -> float:
    """RSS growth (MB) over calling each of `requests` (functions that send one request and check its answer)."""
    requests[0]()  # warm: the route's first call
    before = resident_mb(server.process.pid)
    for request in requests:
        request()
    return resident_mb(server.process.pid) - before


def test_the_blob_route_refuses_what_no_drawing_needs(server):
    pad = sketch_pad(server)
    refusals = {"a layer index of 100,000,000": blob(server, pad, b"png", index="100000000"),
                "another part": blob(server, pad, b"png", kind="mask"),
                "an id of 1,000 characters": blob(server, pad, b"png", blob_id="x" * 1000),
                "a PNG over the limit": blob(server, pad, b"x" * (BLOB_BYTES + 1))}
    for what, response in refusals.items():
        assert response.status_code in (400, 413), what
        assert response.json()["detail"].endswith("."), what  # a one-line message
    one_mb = blob(server, pad, b"x" * (1024 * 1024))  # the body is refused before it is read
    assert one_mb.status_code == 413 and one_mb.json() == {"detail": too_large(BLOB_BYTES + FORM_OVERHEAD_BYTES)}
    assert blob(server, pad, b"png").status_code == 200
    growth = grows_by_mb(server, [lambda: blob(server, pad, b"png", index="100000000") for _ in range(20)])
    assert growth < GROWTH_MB  # gradio 6.31 took 76 MB for each
    still_answers(server)


def test_drawings_never_used_are_kept_up_to_the_store_limit(server):
    """Drawings sent as a page sends them (a small first part, then the large ones under the same id), which
    no event ever uses: 40 of them, 40 MB in all, leave at most the store's 8 MB."""
    pad = sketch_pad(server)
    part = np.random.default_rng(0).bytes(BLOB_BYTES)  # the largest part a pad takes

    def drawing():
        name = uuid.uuid4().hex[:11]
        for kind, data in (("background", b"x"), ("layer", part), ("composite", part)):
            blob(server, pad, data, kind=kind, blob_id=name).raise_for_status()

    growth = grows_by_mb(server, [drawing] * 40)
    assert growth < BLOB_STORE_BYTES / 2**20 + 20  # the store's bound, not 40 MB
    still_answers(server)


def test_large_json_calls_are_refused_unread(server):
    big = json.dumps({"data": ["joint", "[" + "0," * 500_000 + "0]"]})  # 1 MB
    responses = []
    growth = grows_by_mb(server, [lambda: responses.append(httpx.post(f"{server.url}/gradio_api/call/decode", content=big,
                                                                      headers={"content-type": "application/json"}))
                                  for _ in range(20)])
    assert {r.status_code for r in responses} == {413} and growth < GROWTH_MB
    near = json.dumps({"data": ["joint", "[" + "0," * 100_000 + "0]"]})  # 200 KB: read, then refused as a z
    assert httpx.post(f"{server.url}/gradio_api/call/decode", content=near,
                      headers={"content-type": "application/json"}).status_code == 200
    stream = call(server, "decode", ["joint", "[" + "0," * 100_000 + "0]"])
    assert "event: error" in stream and "numbers" in stream
    still_answers(server)


def uploads_on_disk() -> int:
    """Bytes in gradio's upload cache (GRADIO_TEMP_DIR, else the system's temporary folder)."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / "gradio"
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def test_uploads_and_pictures_cost_what_they_weigh(server):
    """1 MB uploads cost 1 MB of disk each (until gradio's cache deletes them) and no memory; a 1 MB picture
    of 40 megapixels (a bomb of a kind: small file, large image) is read and answered, and its memory given back."""
    big = PIL.Image.new("L", (7300, 5475), 255)
    big.paste(0, (3000, 2000, 3400, 3400))  # a thick bar: a 1
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    picture = buffer.getvalue()
    assert len(picture) < 1024 * 1024
    noise = [os.urandom(1024 * 1024) for _ in range(21)]  # each its own: gradio keeps one file per content
    disk = uploads_on_disk()
    growth = grows_by_mb(server, [lambda data=data: upload(server, data, "noise.bin") for data in noise])
    assert growth < GROWTH_MB and 20 * 2**20 <= uploads_on_disk() - disk <= 21 * 2**20  # (the last may still be moving)

    def reconstruct():
        stream = call(server, "reconstruct", [{"path": upload(server, picture), "meta": {"_type": "gradio.FileData"}}])
        assert "event: complete" in stream and "reads the input as **1**" in stream

    assert grows_by_mb(server, [reconstruct] * 5) < GROWTH_MB
    still_answers(server)
