"""The app's callbacks on their own, then the fixed API endpoints of a launched server through gradio_client."""

import asyncio
import base64
import io
import json
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import PIL.Image
import pytest
import torch
from gradio.components.image import ImageData
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from explorer.explore import Explorer, ExplorerError
from explorer.images import PNG_DATA_URL, png_bytes
from explorer.limits import MAX_UPLOAD_BYTES, too_large
from explorer.ui import build_app, launch_options
from explorer.ui.callbacks import Callbacks
from explorer.ui.checks import user_errors
from explorer.ui.components import DigitImage
from explorer.ui.glossary import COLORING_MEANINGS, METRIC_MEANINGS
from explorer.ui.translate import color_hue
from explorer.weights import read_metadata
from train.evaluate import LATENT_SCORES
from .conftest import ROOT
from .test_images import CASES


@pytest.fixture(scope="module")
def callbacks():
    return Callbacks(Explorer())


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory, pack):
    """A real test digit (a 7) as a large photo-like PNG: dark ink on light paper."""
    images, labels = pack
    seven = images[labels == 7][0].numpy()
    path = tmp_path_factory.mktemp("inputs") / "seven.png"
    PIL.Image.fromarray(255 - seven).resize((200, 200), PIL.Image.BILINEAR).save(path)
    return path


# ----------------------------------------------------------------------------- callbacks


def test_reconstruct_outputs(callbacks):
    """Both sets: the any-color VAEs first, then the palette ones, then the 2-D VAE, then the reading."""
    outputs = callbacks.reconstruct(callbacks.sample(7, 0, "digit"))
    assert len(outputs) == 3 * 7 + 1
    assert "Continuous (mean ± std), most informative first: z" in outputs[20]  # the 2-D VAE's two dimensions
    for picture in outputs[0:18:3] + outputs[1:18:3]:
        assert picture.shape == (28, 28, 3) and picture.dtype == np.uint8
    assert "Read as **7**" in outputs[11] and "Read as **7**" in outputs[17]  # palette continuous, joint
    assert "Code: digit 7" in outputs[17] and "Code: digit 7" in outputs[8]  # both joint VAEs
    assert "(right for 42% / 41% / 42% of test digits in the palette / random hues / gray)" in outputs[5]  # its accuracy
    assert "Each variable's likeliest category (variable: category (probability)): v0 (digit): " in outputs[5]
    assert "z8 (hue) " in outputs[2] and "z2 (width) " in outputs[2]  # each named after what it carries most
    assert "(right for 100% / 14% / 18% of test digits" in outputs[17]  # the palette joint VAE: the color gave it the digit
    assert "reads the input as **7**" in outputs[-1]


def test_the_any_color_set_reads_a_gray_digit(callbacks):
    """A white test digit (what a drawing with the default black brush becomes): the any-color joint VAE's
    code is the digit, the palette one's is not (it learned the color: docs/models.md)."""
    outputs = callbacks.reconstruct(callbacks.sample(7, 0, "gray"))
    assert "Code: digit 7" in outputs[8]
    assert "Code: digit 7" not in outputs[17]


def test_bad_input_becomes_a_gradio_error(callbacks):
    with pytest.raises(gr.Error, match="empty"):
        callbacks.reconstruct(np.zeros((64, 64), np.uint8))
    with pytest.raises(gr.Error, match="There is no image"):
        callbacks.translate(None)
    for blank in (np.full((280, 280, 3), 255, np.uint8), None):  # a cleared pad: the input shown stays, no error toast
        assert callbacks.prepare_drawing({"composite": blank, "layers": [], "background": None}) == gr.skip()
    with pytest.raises(gr.Error, match="JSON list"):
        callbacks.decode("joint", "[0.1, ")
    with pytest.raises(gr.Error, match="model set must be one of 'any', 'palette'"):
        callbacks.controls("joint", "gray")


def test_colors_are_read_as_hues():
    assert color_hue("#ff0000") == 0 and color_hue("blue") == pytest.approx(2 / 3)
    assert color_hue("rgb(0, 255, 0)") == pytest.approx(1 / 3)
    hue = color_hue("#e6194b")  # CSS's other spellings of it: alpha, spaces, percentages, decimals
    for spelling in ["rgba(230, 25, 75, 0.5)", "RGB(230 25 75 / 50%)", "rgb(230,25,75)", "rgba(90.2%, 9.8%, 29.4%, 1)",
                     " #e6194b ", "#e6194b80", "rgb(230.4 25 75)"]:
        assert color_hue(spelling) == pytest.approx(hue, abs=0.003), spelling
    assert color_hue("hsla(350, 80%, 50%, 0.3)") == color_hue("hsl(350deg 80% 50%)") == pytest.approx(350 / 360)
    assert color_hue("rgb(300, 0, 0)") == color_hue("red")  # beyond the gamut: clipped, as CSS does
    for wrong in ["blurple", "rgb(1, 2)", "rgb(1, 2, 3, 4, 5)", "rgb(a, b, c)", "e6194b", "rgba(230, 25, 75, banana)",
                  "rgb(230, 25 75)", "currentcolor", "lab(50 60 30)", "color()", "hsl(120 100% 1e400%)", "rgb(" + "1 " * 500 + ")"]:
        with pytest.raises(ExplorerError, match="not a color this app reads: use a color like"):
            color_hue(wrong)
    with pytest.raises(ExplorerError, match="gray"):
        color_hue("#ffffff")


def test_a_drawing_is_read(callbacks, pack):
    images, labels = pack
    three = np.kron(255 - images[labels == 3][2].numpy(), np.ones((10, 10), np.uint8))  # black on white, 280 px
    picture = callbacks.prepare_drawing({"composite": np.stack([three] * 3, 2), "layers": [], "background": None})
    assert picture.shape == (28, 28, 3)
    assert "reads the input as **3**" in callbacks.reconstruct(picture)[-1]


@pytest.mark.parametrize("model_set", ["any", "palette"])
def test_controls_follow_the_model(callbacks, model_set):
    updates = callbacks.controls("joint", model_set)
    sliders, codes, beyond, dimension, latent = updates[:16], updates[16:40], updates[40], updates[41], updates[42]
    assert [u["visible"] for u in sliders] == [True] * 10 + [False] * 6 and beyond == ""  # every latent has a control
    name = "joint-any" if model_set == "any" else "joint"
    kl = callbacks.explorer.vae(name).metadata["metrics"]["kl_per_dimension"]
    assert sliders[0]["label"].startswith(f"z{kl.index(max(kl))} · ")  # the most informative dimension first
    assert codes[0]["visible"] and [label for label, _ in codes[0]["choices"]] == [str(d) for d in range(10)]
    accuracy = [c["code_accuracy"] for c in callbacks.explorer.vae(name).metadata["metrics"]["colorings"].values()]
    low, high = round(100 * min(accuracy)), round(100 * max(accuracy))
    assert codes[0]["label"] == f"Code (labeled by the digit it maps to, right for {low}{f'-{high}' if high > low else ''}% of test digits)"
    assert not codes[1]["visible"] and dimension["visible"]
    assert len(json.loads(latent)) == 20
    discrete = callbacks.controls("discrete", model_set)
    assert [u["visible"] for u in discrete[:16]] == [False] * 16 and all(u["visible"] for u in discrete[16:40])
    start = callbacks.decode("discrete", discrete[-1], model_set)  # the code of the sample 3, not a blur
    assert "reads the input as **3**" in callbacks.reconstruct(start)[-1]


def strongest(metrics: dict, latent: str) -> tuple[str, float]:
    """The factor a latent carries most in the file's MI table, and how much."""
    table = metrics["mutual_information"]
    row = table["table"][table["latents"].index(latent)]
    return table["factors"][int(np.argmax(row))], max(row)


@pytest.mark.parametrize("kind", ["continuous", "joint"])
def test_each_slider_says_what_it_moves(callbacks, kind):
    """Each slider is named after the factor its dimension carries most (the file's normalised MI, 0.1 or more),
    or says it carries none above 0.1; the hue dimensions so named are among those that the circular
    correlation finds (r >= 0.5)."""
    vae = callbacks.explorer.vae(f"{kind}-any")
    metrics = vae.metadata["metrics"]
    labels = [update["label"] for update in callbacks.controls(kind, "any")[:16] if update["visible"]]
    assert len(labels) == vae.spec.continuous
    for d, label in zip(vae.order, labels):
        factor, value = strongest(metrics, f"z{d}")
        named = f"{factor} {value:.2f}" if value >= 0.1 else "no factor above 0.1"
        assert label == f"z{d} · {named} · KL {metrics['kl_per_dimension'][d]:.2f} nats", label
    correlation = metrics["colorings"]["random"]["hue_correlation"]
    hue = [d for d, label in zip(vae.order, labels) if " · hue " in label]
    assert hue and all(correlation[d] >= 0.5 for d in hue)
    assert "normalised mutual information" in callbacks.factor_controls(kind, "any")[-2]  # the page says what 0.20 is
    rows = callbacks.traversal(kind, callbacks.controls(kind, "any")[-1], vae.order[0], "any")[1]
    assert f"z{vae.order[0]} ({labels[0].split(' · ')[1]})" in rows  # the traversal grid's rows or columns


def test_a_file_without_the_factor_scores_says_how_to_measure_them(tmp_path):
    """A weights file evaluated before the factors were measured (or a user's) still loads; its sliders, factor
    sliders, traversal, card and the comparison say "not measured" and give the command that measures them."""
    from safetensors.torch import load_file, save_file

    for path in (ROOT / "weights").glob("*"):
        (tmp_path / path.name).symlink_to(path)
    old = tmp_path / "vae-continuous-any.safetensors"
    old.unlink()
    meta = read_metadata(ROOT / "weights" / old.name)
    for metrics in (meta["metrics"], *meta["metrics"]["colorings"].values()):  # as evaluated before 2026-12-07
        for name in (*LATENT_SCORES, "factor_directions", "factor_purity", "iwae_samples", "iwae_digits"):
            metrics.pop(name, None)
    save_file(load_file(ROOT / "weights" / old.name), old, {key: json.dumps(value) if not isinstance(value, str) else value
                                                            for key, value in meta.items()})
    callbacks = Callbacks(Explorer(tmp_path))
    command = f"python -m train evaluate {old}"
    labels = [update["label"] for update in callbacks.controls("continuous", "any")[:16] if update["visible"]]
    assert len(labels) == 16 and all(f"factors not measured: {command}" in label for label in labels)
    sliders = callbacks.factor_controls("continuous", "any")
    assert not any(update["visible"] for update in sliders[:-2]) and f"not measured: {command}" in sliders[-2]
    assert command in callbacks.traversal("continuous", callbacks.controls("continuous", "any")[-1], 0, "any")[1]
    assert "The factors are not measured for this file" in callbacks.model_card("vae-continuous-any")[-1]
    assert f"Not measured yet: `{command}`." in callbacks.compare_latents()
    assert "| joint | trained on any color | random |" in callbacks.compare_latents()  # the others are compared


@pytest.mark.parametrize("model_set", ["any", "palette"])
def test_encode_then_decode_round_trip(callbacks, model_set):
    latent = callbacks.encode_controls("joint", model_set, callbacks.sample(7, 0, "digit"))[-1]
    picture = callbacks.decode("joint", latent, model_set)
    assert "reads the input as **7**" in callbacks.reconstruct(picture)[-1]


def test_interpolate_frames_and_gif(callbacks, digit_png):
    strip, gif, frames, scrub, first = callbacks.interpolate("joint", PIL.Image.open(digit_png), None, 6, "spherical", 3)
    assert frames.shape == (6, 28, 28, 3) and strip.shape == (30, 6 * 29 + 1, 3)
    assert scrub["maximum"] == 5 and np.array_equal(first, frames[0])
    assert PIL.Image.open(gif).n_frames == 10
    assert np.array_equal(callbacks.frame(frames, 4), frames[4])


def test_model_cards(callbacks):
    card, curve, kl_plot, latent_map, _ = callbacks.model_card("vae-joint")
    metrics = read_metadata(ROOT / "weights" / "vae-joint.safetensors")["metrics"]
    assert f"| code_accuracy | {metrics['code_accuracy']:.4g} |" in card and "| steps | 1872 |" in card
    assert len(curve.value["data"]) > 10 and len(latent_map.value["data"]) == 1000
    assert [row[1] for row in kl_plot.value["data"]] == metrics["kl_per_dimension"]
    random = metrics["colorings"]["random"]
    assert "| metric | digit | random | gray |" in card  # the metrics in each coloring of the test digits
    assert f"| same_code_two_hues | - | {random['same_code_two_hues']:.4g} | - |" in card
    card, curve, kl_plot, latent_map, heatmap = callbacks.model_card("classifier")  # no latent: empty plots, never None
    assert heatmap == ""
    assert "accuracy_gray" in card and kl_plot.value["data"] == [] and latent_map.value["data"] == []
    assert kl_plot.y_lim == [0, None]  # bars from 0 nats
    card, curve, kl_plot, latent_map, _ = callbacks.model_card("cyclegan-hue")  # its losses, not a VAE's
    assert {row[2] for row in curve.value["data"]} == {"g_adv", "cycle", "identity", "color", "d_color", "d_gray"}
    assert "| training | value |" in card and "| coloring | gray \\| random |" in card  # one cell, not two
    card, curve, kl_plot, latent_map, _ = callbacks.model_card("vae-joint-any")
    assert "| coloring | any |" in card and len(latent_map.value["data"]) == 1000
    assert "| coloring_seeds | random: 1234; random, the second hue: 1235 |" in card  # not a Python dict
    correlation = read_metadata(ROOT / "weights" / "vae-joint-any.safetensors")["metrics"]["colorings"]["random"][
        "hue_correlation"]
    most = max(range(len(correlation)), key=correlation.__getitem__)  # the dimension that follows the hue most
    assert f"**The dimensions that carry the hue** (`hue_correlation`): z{most} {correlation[most]:.2f}, " in card
    assert "(of 10, with r >= 0.5)" in card


def test_a_card_shows_what_each_latent_carries(callbacks):
    """A VAE's card: the factor x latent heatmap (a row per latent, sliders' order first, a column per factor,
    each cell the file's value) and the factor sliders' table; the comparison of every VAE in each coloring."""
    card, *_, heatmap = callbacks.model_card("vae-joint-any")
    vae = callbacks.explorer.vae("joint-any")
    table = vae.metadata["metrics"]["mutual_information"]
    rows = re.findall(r"<tr><th[^>]*>(\w+)</th>", heatmap)
    assert rows == [f"z{d}" for d in vae.order] + ["v0"]
    assert all(re.search(rf"<th[^>]*>{factor}</th>", heatmap) for factor in table["factors"])
    first = table["table"][table["latents"].index(rows[0])]
    assert re.search(r"<tr><th[^>]*>" + rows[0] + "</th>" + "".join(rf"<td[^>]*>{v:.2f}</td>" for v in first), heatmap)
    assert "**The factor sliders**" in card and "| thickness | " in card
    comparison = callbacks.compare_latents()
    for kind in ("continuous", "discrete", "joint"):
        for coloring in ("digit", "random", "gray"):
            m = callbacks.explorer.vae(f"{kind}-any").metadata["metrics"]["colorings"][coloring]
            assert f"| {kind} | trained on any color | {coloring} | {m['mig']:.2f} | {m['sap']:.2f} | " in comparison
    assert "Not measured yet" not in comparison


def test_the_factors_of_a_picture_are_measured(callbacks):
    """/measure_factors: the factors of the pictures decoded from where the factor sliders started and from what
    they made, with the change; pushed along its thickness direction, the continuous VAE's 0 thickens."""
    vae = callbacks.explorer.vae("continuous-any")
    start = torch.zeros(1, 16)
    moved = start + 2 * vae.factor_directions["thickness"]
    table = callbacks.measure_factors("continuous", "any", json.dumps(start[0].tolist()), json.dumps(moved[0].tolist()))
    assert table.startswith("| measured on the picture | at the start | now | change |")
    row = next(line for line in table.splitlines() if line.startswith("| thickness |"))
    before, after, change = (float(cell.split()[0]) for cell in row.split("|")[2:5])
    measured = callbacks.explorer.picture_factors("continuous-any", torch.cat([start, moved]))["thickness"]
    assert (before, after) == (round(measured[0], 2), round(measured[1], 2)) and change > 0
    assert callbacks.measure_factors("continuous", "any", "", "").strip() == ""  # let go where it was: nothing made
    with pytest.raises(gr.Error, match="Give the z to measure"):
        callbacks.measure_factors("continuous", "any", json.dumps(start[0].tolist()), "")
    with pytest.raises(gr.Error, match="JSON list"):
        callbacks.measure_factors("continuous", "any", "", "[1, 2")


def test_every_figure_in_a_card_is_explained(callbacks):
    """The Models tab's glossary names every test metric and training coloring of every shipped file, with
    the constants the evaluation uses."""
    from train.evaluate import INACTIVE_KL, TOGGLE_IMAGES

    for path in sorted((ROOT / "weights").glob("*.safetensors")):
        meta = read_metadata(path)
        metrics = meta["metrics"]
        names = {*metrics, *(name for each in metrics.get("colorings", {}).values() for name in each)}
        unexplained = names - set(METRIC_MEANINGS) - {"kl_per_dimension", "code_map", "test_data", "colorings",
                                                       "hue_correlation"}  # plotted, or shown with their own words
        assert not unexplained, f"{path.name}: {unexplained}"
        assert meta["training"]["coloring"] in COLORING_MEANINGS, path.name
        card = callbacks.model_card(path.stem)[0]
        assert "**What the figures mean**" in card and f"- `{next(iter(metrics))}`: " in card
    assert f"{TOGGLE_IMAGES:,}" in METRIC_MEANINGS["toggle_fidelity"] and f"{INACTIVE_KL} nats" in METRIC_MEANINGS["active_dimensions"]


def test_the_sets_are_compared(callbacks):
    table = callbacks.compare_sets()
    for name, meaning in (("joint-any", "trained on any color"), ("joint", "trained on the study's palette")):
        read = callbacks.explorer.vae(name).metadata["metrics"]["colorings"]["gray"]["recon_read_as_label"]
        assert f"| joint | {meaning} |" in table and f"{100 * read:.1f}%" in table


def test_the_app_builds_with_missing_weights(tmp_path):
    """Only the classifier and the plain CycleGAN: the page names what is missing and how to make it;
    reconstruction and translation still answer."""
    for name in ("classifier", "cyclegan"):
        shutil.copy(ROOT / "weights" / f"{name}.safetensors", tmp_path)
    explorer = Explorer(tmp_path)
    app = build_app(explorer)
    markdown = " ".join(str(block.value) for block in app.blocks.values() if isinstance(block, gr.Markdown))
    assert "python -m train vae --kind joint" in markdown and "python -m train cyclegan-hue" in markdown
    callbacks = Callbacks(explorer)
    outputs = callbacks.reconstruct(callbacks.sample(2, 0, "digit"))
    assert outputs[2].startswith("**Not loaded.**") and outputs[11].startswith("**Not loaded.**")
    assert "reads the input as **2**" in outputs[-1]
    translated = callbacks.translate(callbacks.sample(2, 0, "gray"), "#ff0000")
    assert translated[4] is None and "Choosing the color is not available" in translated[-1]
    with pytest.raises(gr.Error, match="vae-joint.safetensors does not exist"):
        callbacks.decode("joint", "[0]", "palette")
    with pytest.raises(gr.Error, match="vae-joint-any.safetensors does not exist"):
        callbacks.decode("joint", "[0]")


def test_the_app_builds_without_its_sample_pack(tmp_path):
    """A clone made without Git LFS has a pointer in place of the sample pack: the app still starts, its
    banner says why and what to do, a sample asked for gets that message, and drawn digits still work."""
    pointer = tmp_path / "mnist-test-samples.npz"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 1377\n")
    explorer = Explorer(sample_pack=pointer)
    app = build_app(explorer)
    markdown = " ".join(str(block.value) for block in app.blocks.values() if isinstance(block, gr.Markdown))
    assert "Some files are not loaded" in markdown and "It is a Git LFS pointer" in markdown
    callbacks = Callbacks(explorer)
    with pytest.raises(gr.Error, match="Git LFS pointer"):
        callbacks.sample(3, 0, "digit")
    assert json.loads(callbacks.decoder_map("joint"))["points"] == []  # no sample digits on the map; the decoder works
    seven = np.zeros((28, 28, 3), np.uint8)
    seven[4:7, 6:22], seven[7:24, 17:20] = 255, 255
    assert "reads the input as **7**" in callbacks.reconstruct(seven)[-1]


def test_user_errors_give_every_error_a_message():
    """A refused input keeps its message; an error of a kind a bad input raises reads as one; any other error
    is the app's fault, still with its type and message (gradio would send {"error": null})."""
    def failing(error):
        def call():
            raise error
        return user_errors(call)

    for error, message in ((ExplorerError("No such model."), "No such model."),
                           (ValueError("bad"), "This input could not be used (ValueError: bad)."),
                           (FileNotFoundError("gone.gif"), "The app failed on this request (FileNotFoundError: gone.gif).")):
        with pytest.raises(gr.Error) as raised:
            failing(error)()
        assert raised.value.message == message


# ----------------------------------------------------------------------------- the API of a launched server


@pytest.fixture(scope="module")
def app():
    app = build_app()
    app.launch(prevent_thread_lock=True, server_port=None, quiet=True, **launch_options())
    yield app
    app.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.local_url, verbose=False)


def test_a_slider_is_checked_against_its_range_in_the_session(app):
    """The scrub slider's range follows the last interpolation's frames (0 to 9 as built, 0 to 31 after 32
    steps): a page may scrub to 31 then, not to 32."""
    from gradio.state_holder import SessionState

    interpolate = next(fn for fn in app.fns.values() if fn.api_name == "interpolate")
    frame = next(fn for fn in app.fns.values() if getattr(fn.fn, "__name__", "") == "frame")
    session = SessionState(app)
    asyncio.run(app.process_api(interpolate, ["continuous", None, None, 32, "linear", 0, "any"], state=session))
    for index in (20, 31):
        asyncio.run(app.process_api(frame, [None, index], state=session))  # the frames' state: the session's
    with pytest.raises(gr.Error, match="index must be a whole number from 0 to 31, not 32"):
        asyncio.run(app.process_api(frame, [None, 32], state=session))


def test_api_reconstruct(client, digit_png):
    result = client.predict(handle_file(str(digit_png)), api_name="/reconstruct")
    assert len(result) == 2 * 9 + 3 + 1  # the any-color set, the palette set, the 2-D VAE, the reading
    assert PIL.Image.open(result[0]).size == (28, 28) and PIL.Image.open(result[9]).size == (28, 28)
    assert "reads the input as **7**" in result[-1]


def test_api_decode(client):
    z = [0.0] * 10 + [0] * 9 + [1]
    path = client.predict("joint", json.dumps(z), api_name="/decode")
    assert np.asarray(PIL.Image.open(path)).shape[:2] == (28, 28)
    with pytest.raises(AppError, match="out of range"):
        client.predict("joint", json.dumps([9.0] + z[1:]), api_name="/decode")
    with pytest.raises(AppError, match="has 20 numbers"):
        client.predict("joint", "[1, 2]", api_name="/decode")
    any_color, palette = (np.asarray(PIL.Image.open(client.predict("joint", json.dumps(z), model_set, api_name="/decode")))
                          for model_set in ("any", "palette"))
    assert np.array_equal(any_color, np.asarray(PIL.Image.open(path)))  # "any" is the default
    assert not np.array_equal(any_color, palette)
    with pytest.raises(AppError, match="^model_set must be one of 'any', 'palette', not 'gray'.$"):
        client.predict("joint", json.dumps(z), "gray", api_name="/decode")  # was gradio's, with a Python type
    with pytest.raises(AppError, match="^kind must be one of 'continuous', 'discrete', 'joint', not 'rainbow'.$"):
        client.predict("rainbow", json.dumps(z), api_name="/decode")


def test_api_decode_names_any_listed_vae(client):
    """`vae`, optional: any listed VAE by its name or file name, whatever the kind and set say; unknown: the
    choices named."""
    plane = [np.asarray(PIL.Image.open(client.predict("joint", "[0.5, -1]", "any", vae, api_name="/decode")))
             for vae in ("2d-any", "vae-2d-any.safetensors")]
    assert np.array_equal(*plane) and plane[0].shape == (28, 28, 3)
    assert np.array_equal(plane[0], np.asarray(PIL.Image.open(client.predict(vae="2d-any", latent="[0.5, -1]",
                                                                             api_name="/decode"))))
    with pytest.raises(AppError, match="There is no VAE 'my-vae': choose one of continuous-any, .*2d-any"):
        client.predict("joint", "[0.5, -1]", "any", "my-vae", api_name="/decode")


def test_api_interpolate(client, digit_png):
    strip, gif, scrub, frame = client.predict("continuous", handle_file(str(digit_png)), None, 5, "linear", 0,
                                              api_name="/interpolate")
    assert PIL.Image.open(strip).size == (5 * 29 + 1, 30)
    assert PIL.Image.open(gif).n_frames == 8
    with pytest.raises(AppError, match="^path must be one of 'linear', 'spherical', not 'zigzag'.$"):
        client.predict("continuous", None, None, 5, "zigzag", 0, api_name="/interpolate")
    with pytest.raises(AppError, match="^path is missing: it must be one of 'linear', 'spherical'.$"):
        client.predict("continuous", None, None, 5, None, 0, api_name="/interpolate")  # was a linear path
    with pytest.raises(AppError, match="The seed must be a whole number from 0 to 9007199254740991, not 1000"):
        client.predict("continuous", None, None, 5, "linear", 1e20, api_name="/interpolate")  # was torch's overflow
    with pytest.raises(AppError, match="steps must be a whole number from 2 to 32, not 2.5"):
        client.predict("continuous", None, None, 2.5, "linear", 0, api_name="/interpolate")  # was 2 frames
    with pytest.raises(AppError, match="steps must be a whole number from 2 to 32, not 33"):
        client.predict("continuous", None, None, 33, "linear", 0, api_name="/interpolate")  # gradio's message named no parameter


def test_api_translate(client, digit_png):
    *pictures, readings = client.predict(handle_file(str(digit_png)), "#0000ff", api_name="/translate")
    assert len(pictures) == 6 and all(PIL.Image.open(p).size == (28, 28) for p in pictures)
    assert readings.count("**7**") == 7
    assert "Asked hue 240°" in readings and readings.startswith("The input is gray: **Gray -> color** is its translation")
    blue = np.asarray(PIL.Image.open(pictures[4]).convert("RGB")).reshape(-1, 3).astype(int)
    stroke = blue[blue.max(1) > 128]
    assert (stroke[:, 2] > stroke[:, 0] + 60).mean() > 0.9  # painted blue, as asked
    with pytest.raises(AppError, match="almost\\) gray"):
        client.predict(handle_file(str(digit_png)), "#808080", api_name="/translate")
    for blank in ("", "   "):  # the page's color box cleared: the translations, and why there is no chosen color
        *pictures, readings = client.predict(handle_file(str(digit_png)), blank, api_name="/translate")
        assert all(p is not None for p in pictures[:4]) and pictures[4:] == [None, None]
        assert readings.endswith("No color chosen: pick one (or type a CSS color such as '#e6194b') to paint the digit in it.")


def test_api_bad_files_get_messages_and_the_server_keeps_serving(client, tmp_path, digit_png):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(AppError, match="not an image"):
        client.predict(handle_file(str(text)), api_name="/reconstruct")
    blank = tmp_path / "blank.png"
    PIL.Image.new("RGBA", (300, 300), (255, 255, 255, 0)).save(blank)
    with pytest.raises(AppError, match="empty"):
        client.predict(handle_file(str(blank)), api_name="/translate")
    assert "**7**" in client.predict(handle_file(str(digit_png)), api_name="/reconstruct")[-1]


def test_a_picture_sent_back_inline_reaches_every_event_whole():
    """The page sends its input's sample back inline (a data URL) with each event; 16 events at once (a
    page's two load events, many pages) each get the PNG as it was sent, complete. (gradio's own decoding
    rewrote one file in place for each: 109 of 320 such reads failed, measured on 2 cores.)"""
    picture = np.random.default_rng(0).integers(0, 256, (280, 280, 3), dtype=np.uint8)
    png = png_bytes(picture)
    payload = ImageData(path=None, url=PNG_DATA_URL + base64.b64encode(png).decode(), orig_name="sample.png")
    block = DigitImage(type="filepath", image_mode=None, format="png")

    def read(_) -> bytes:
        path = block.preprocess(payload)
        with PIL.Image.open(path) as image:
            assert np.array_equal(np.asarray(image), picture)
        return Path(path).read_bytes()

    for _ in range(5):
        with ThreadPoolExecutor(16) as pool:
            assert all(data == png for data in pool.map(read, range(16)))
    with pytest.raises(gr.Error, match="not an image file this app can read"):
        block.preprocess(ImageData(path=None, url="data:image/png;base64,not base64!"))
    empty = Path(tempfile.mkdtemp()) / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(gr.Error, match=r"empty.png is an empty file \(0 bytes\)"):  # an upload of 0 bytes
        DigitImage(type="filepath", image_mode=None, format="png").preprocess(ImageData(path=str(empty), orig_name="empty.png"))


def test_an_upload_too_large_to_open_gets_the_size_message(tmp_path):
    """Over 179 megapixels PIL will not open a picture at all (gradio's upload component opens it first):
    the message says it is too large, as for 40-179 megapixels, not that it is no image."""
    huge = tmp_path / "huge.png"
    PIL.Image.new("1", (15_000, 15_000)).save(huge)  # 225 megapixels, 30 kB on disk
    block = DigitImage(type="filepath", image_mode=None, format="png")
    with pytest.raises(gr.Error, match="huge.png is far too large to be a digit: scale it below 40 megapixels"):
        block.preprocess(ImageData(path=str(huge), orig_name="huge.png"))


def test_many_pages_asking_for_the_same_picture_all_get_it_whole(client):
    """32 sessions decode the same z at once, 4 times each (a class opening the page): every answer
    carries the same complete PNG inline (what the page shows), and the file that API clients
    download by its path holds the same bytes."""
    url = client.src.rstrip("/")
    z = json.dumps([0.5] * 10 + [0] * 9 + [1])

    def one(session: int) -> set[bytes]:
        received = set()
        with httpx.Client(timeout=60) as http:
            for _ in range(4):
                event = http.post(f"{url}/gradio_api/call/decode", json={"data": ["joint", z], "session_hash": f"s{session}"})
                stream = http.get(f"{url}/gradio_api/call/decode/{event.json()['event_id']}").text
                data = json.loads(stream.split("event: complete\ndata:", 1)[1].strip().splitlines()[0])
                assert data[0]["url"].startswith(PNG_DATA_URL)
                received.add(base64.b64decode(data[0]["url"].removeprefix(PNG_DATA_URL)))
                received.add(http.get(f"{url}/gradio_api/file={data[0]['path']}").content)
        return received

    with ThreadPoolExecutor(32) as pool:
        images = set().union(*pool.map(one, range(32)))
    assert len(images) == 1  # 128 answers and 128 downloads, all the same complete PNG
    assert np.asarray(PIL.Image.open(io.BytesIO(images.pop()))).shape == (28, 28, 3)


@pytest.mark.parametrize("case", json.loads((CASES / "cases.json").read_text()), ids=lambda case: case["file"])
def test_api_reads_each_picture_that_broke_similar_apps(client, case):
    """The uploaded file itself reaches the library (tests/test_images.py checks each case's model input):
    transparency, bit depth and EXIF orientation are not lost on the way."""
    reading = client.predict(handle_file(str(CASES / case["file"])), api_name="/reconstruct")[-1]
    expect = {"1 (visible)": "1", "upright 7": "7"}.get(case["expect"], case["expect"])
    if len(expect) == 1:
        assert f"reads the input as **{expect}**" in reading, case["what"]


def test_api_reads_a_heic_photo(client, tmp_path):
    """An iPhone's photo (HEIC, stored turned, with its orientation) reaches the library through gradio's
    upload, which opens it with PIL first, and is read upright."""
    upright = PIL.Image.open(CASES / "exif_rot6_7.jpg").transpose(PIL.Image.ROTATE_270)  # as it is shown
    exif = PIL.Image.Exif()
    exif[274] = 6
    upright.transpose(PIL.Image.ROTATE_90).save(tmp_path / "IMG_0001.HEIC", exif=exif.tobytes())
    reading = client.predict(handle_file(str(tmp_path / "IMG_0001.HEIC")), api_name="/reconstruct")[-1]
    assert "reads the input as **7**" in reading


def test_uploads_over_the_limit_are_refused_before_they_are_stored(client, tmp_path):
    url = client.src.rstrip("/")
    limit = 10 * 1024 * 1024
    assert MAX_UPLOAD_BYTES == limit
    uploads = Path(tempfile.gettempdir()) / "gradio"
    before = sum(f.stat().st_size for f in uploads.rglob("*") if f.is_file()) if uploads.exists() else 0
    response = httpx.post(f"{url}/gradio_api/upload", files={"files": ("zeros.png", b"\0" * (2 * limit))}, timeout=60)
    assert response.status_code == 413 and too_large(limit + 64 * 1024) in response.text  # refused unread (BodyLimit)
    response = httpx.post(f"{url}/gradio_api/upload", files={"files": ("zeros.png", b"\0" * (limit + 1000))}, timeout=60)
    assert response.status_code == 413 and response.text == f"File size exceeded maximum allowed size of {limit} bytes."
    after = sum(f.stat().st_size for f in uploads.rglob("*") if f.is_file()) if uploads.exists() else 0
    assert after - before < 100_000  # nothing of the 20 MB or the 10 MB is kept
    small = httpx.post(f"{url}/gradio_api/upload", files={"files": ("small.bin", b"\0" * 1000)}, timeout=60)
    assert small.status_code == 200


BAD_VALUES = {"NaN": float("nan"), "infinity": float("inf"), "text": "not a value", "missing": None,
              "a data URL": "data:image/png;base64,iVBORw0KGgo=",
              "a path on the server": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
              "a URL": {"url": "http://127.0.0.1:9/digit.png", "meta": {"_type": "gradio.FileData"}}}
NUMBER_REFUSALS, FILE_REFUSALS = ("NaN", "infinity", "text", "missing"), ("NaN", "text", "a data URL", "a path on the server", "a URL")


def call_raw(http: httpx.Client, url: str, endpoint: str, data: list) -> tuple[str, object]:
    """POST /gradio_api/call/<endpoint> as any HTTP client may (NaN and infinity as JSON allows them in
    Python), read the event stream: (the last event's name, its data)."""
    response = http.post(f"{url}/gradio_api/call/{endpoint}", content=json.dumps({"data": data}),
                         headers={"content-type": "application/json"})
    response.raise_for_status()
    stream = http.get(f"{url}/gradio_api/call/{endpoint}/{response.json()['event_id']}").text
    events = [line.split(":", 1)[1].strip() for line in stream.splitlines() if line.startswith(("event:", "data:"))]
    return events[-2], json.loads(events[-1])


def test_no_input_to_any_endpoint_gets_an_empty_error(client, digit_png):
    """Every parameter of every fixed endpoint, given NaN, infinity, text, nothing, or a file payload that
    is not an upload: the answer is a result or a one-line message, never {"error": null}."""
    url = client.src.rstrip("/")
    uploaded = httpx.post(f"{url}/gradio_api/upload", files={"files": open(digit_png, "rb")}).json()[0]
    picture = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}
    z = json.dumps([0.0] * 10 + [0] * 9 + [1])
    valid = {"reconstruct": [picture], "interpolate": ["continuous", picture, None, 5, "linear", 0],
             "controls": ["joint"], "decode": ["joint", z], "traversal": ["joint", z, 0],
             "translate": [picture, "#ff0000"], "model_card": ["vae-joint"], "measure_factors": ["joint", "any", "", z]}
    info = httpx.get(f"{url}/gradio_api/info").json()["named_endpoints"]
    assert {name.strip("/") for name in info} == set(valid)
    calls = [(endpoint, parameter, what, arguments[:index] + [value] + arguments[index + 1:])
             for endpoint, arguments in valid.items()
             for index, parameter in enumerate(info[f"/{endpoint}"]["parameters"])
             for what, value in BAD_VALUES.items()]
    # 8 requests at once, each on its own connection of one client's pool (a new httpx client per request
    # builds an SSL context first: 30-70 ms, most of a call's time here): the server answers each on its own
    with ThreadPoolExecutor(8) as pool, httpx.Client(timeout=60) as http:
        assert all(event == "complete" for event, _ in pool.map(lambda item: call_raw(http, url, *item), valid.items()))
        answers = pool.map(lambda call: call_raw(http, url, call[0], call[3]), calls)
        for (endpoint, parameter, what, _), (event, data) in zip(calls, answers):
            where = f"/{endpoint} {parameter['parameter_name']} = {what}"
            if event == "error":
                assert isinstance(data["error"], str) and data["error"].strip() and "\n" not in data["error"], where
            else:
                assert event == "complete", where
            refused = {"Slider": NUMBER_REFUSALS, "Number": NUMBER_REFUSALS, "Picture": FILE_REFUSALS,
                       "Dropdown": NUMBER_REFUSALS, "Radio": NUMBER_REFUSALS}  # a choice: None, text, a number
            if parameter["parameter_name"] == "dimension":  # /traversal's: any text, checked by the callback
                refused = {}
            if parameter["parameter_name"] == "vae":  # optional: nothing means the kind and set; text is checked
                refused = {"Dropdown": set(NUMBER_REFUSALS) - {"missing"}}
            if what in refused.get(parameter["component"], ()) and not (what == "missing" and parameter["component"] == "Picture"):
                assert event == "error", f"{where} was accepted"


def test_a_refused_input_leaves_no_traceback_in_the_log(client, capfd):
    """Refused inputs (the library's, gradio's checks) print nothing: the server's log is for faults."""
    capfd.readouterr()
    for args, api_name in (((None,), "/translate"), (("joint", "[1, 2]"), "/decode"), (("rainbow", "[1]"), "/decode")):
        with pytest.raises(AppError):
            client.predict(*args, api_name=api_name)
    assert "Traceback" not in capfd.readouterr().err


def test_the_readme_api_example_runs(app, monkeypatch):
    """The README's gradio_client example, as a reader copies it, against a launched server."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert 'Client("http://127.0.0.1:7860/")' in example
    monkeypatch.chdir(ROOT)  # its pictures' paths are the repository's
    exec(example.replace("http://127.0.0.1:7860/", app.local_url), {})
