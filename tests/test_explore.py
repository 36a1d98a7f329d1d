"""What the tabs compute, on the shipped models and sample digits, without Gradio."""

import json
import re
import shutil

import numpy as np
import pytest
import torch

from explorer.explore import (GRAY_SATURATION, MANIFOLD_VALUES, MODEL_SETS, SEEDS, SLIDER_LIMIT, VAE_KINDS, Explorer, ExplorerError,
                              slerp, vae_name)

from .conftest import ROOT


@pytest.fixture(scope="module")
def explorer():
    return Explorer()


def test_every_shipped_model_loads(explorer):
    assert explorer.problems == {}
    assert set(explorer.vaes) == {"continuous", "discrete", "joint", "continuous-any", "discrete-any", "joint-any", "2d-any"}
    for name in explorer.vaes:  # each set's files record the coloring they were trained on
        assert explorer.vae(name).metadata["training"]["coloring"] == ("any" if name.endswith("-any") else "digit")
    joint = explorer.vae("joint")
    assert sorted(joint.code_map) == list(range(10))  # a one-to-one code -> digit map from the evaluation
    assert joint.order[0] == max(range(10), key=lambda d: joint.kl_per_dimension[d])


def test_sample_digits_in_each_coloring(explorer):
    for coloring in ("digit", "random", "gray"):
        x = explorer.sample(3, 5, coloring)
        assert x.shape == (1, 3, 28, 28) and 0 <= x.min() and x.max() <= 1
        assert int(explorer.read(x)[0]) == 3
    assert torch.equal(explorer.sample(3, 5, "gray")[0, 0], explorer.sample(3, 5, "gray")[0, 1])  # gray: R = G
    with pytest.raises(ExplorerError, match="index must be 0 to"):
        explorer.sample(3, 500, "digit")
    with pytest.raises(ExplorerError, match="coloring must be one of"):
        explorer.sample(3, 0, "sepia")


def test_vae_names():
    assert [vae_name(kind, "any") for kind in VAE_KINDS] == ["continuous-any", "discrete-any", "joint-any"]
    assert vae_name("joint", "palette") == "joint" and vae_name("joint") == vae_name("joint", None) == "joint-any"
    assert set(MODEL_SETS) == {"any", "palette"}
    with pytest.raises(ExplorerError, match="model set must be one of 'any', 'palette'"):
        vae_name("joint", "digit")
    with pytest.raises(ExplorerError, match="no VAE 'gan'"):
        vae_name("gan", "any")


def test_reconstruct_gives_each_vae_and_its_latent(explorer):
    x = explorer.sample(7, 0, "digit")
    reconstructions = explorer.reconstruct(x)
    assert reconstructions.digit == 7 and reconstructions.confidence > 0.9
    results = reconstructions.by_vae
    assert set(results) == set(explorer.vaes)
    for kind, r in results.items():
        spec = explorer.vae(kind).spec
        assert r.image.shape == x.shape and 0 <= r.mse < 0.05
        assert r.mean.shape == (spec.continuous,) and (r.std > 0).all()
        assert [len(p) for p in r.probabilities] == list(spec.categorical)
    assert results["joint"].digit == 7 and results["continuous"].digit == 7


@pytest.mark.parametrize("coloring", ["digit", "random", "gray"])
def test_reconstruct_in_one_graph_equals_the_models(explorer, coloring):
    """/reconstruct's one ONNX Runtime graph gives what the torch modules give one by one: the same
    reconstruction and posterior to 1e-5 (float32 sums of up to 3,136 products in another order; 1.7e-6 at
    most measured over 30 digits), the same readings."""
    for digit in range(10):
        x = explorer.sample(digit, 3, coloring)
        graph = explorer.reconstruct(x)
        with torch.inference_mode():
            assert graph.digit == int(explorer.read(x)[0][0])
            for name, vae in explorer.vaes.items():
                post = vae.model.encode(x)
                image = vae.model.decode(vae.model.posterior_mode(post))
                r = graph.by_vae[name]
                assert (r.image - image).abs().max() < 1e-5 and torch.allclose(r.mean, post.mean[0], rtol=0, atol=1e-5)
                assert r.digit == int(explorer.read(image)[0][0])
                for p, logits in zip(r.probabilities, post.logits):
                    assert (p - torch.softmax(logits[0], 0)).abs().max() < 1e-5
    with pytest.raises(ExplorerError, match="one image"):
        explorer.reconstruct(torch.cat([x, x]))


def test_decode_checks_the_latent_code(explorer):
    spec = explorer.vae("joint").spec
    z = explorer.check_latent("joint", [0.5] * 10 + [0] * 7 + [1, 0, 0])
    assert explorer.decode("joint", z).shape == (1, 3, 28, 28)
    explorer.check_latent("joint", [0.0] * 10 + [0.5, 0.5] + [0] * 8)  # a mixture of two codes is allowed
    bad = {
        "has 20 numbers": [0.0] * 5,
        "out of range": [SLIDER_LIMIT + 1] + [0.0] * 9 + [1] + [0] * 9,
        "NaN or infinite": [float("nan")] * spec.size,
        "one-hot": [0.0] * 10 + [1, 1] + [0] * 8,
        "list of 20 numbers": "not numbers",
        "flat list of 20 numbers": [[0.0] * 10, [1.0] + [0.0] * 9],  # was flattened
        "a flat list": [True] + [0.0] * 9 + [1] + [0] * 9,  # JSON's true was taken for 1
        "out of range": [1e300] + [0.0] * 9 + [1] + [0] * 9,  # was "NaN or infinite" (float32's overflow)
        "too large for a float": [10**400] + [0.0] * 9 + [1] + [0] * 9,
    }
    for message, values in bad.items():
        with pytest.raises(ExplorerError, match=message):
            explorer.check_latent("joint", values)
    with pytest.raises(ExplorerError, match="There is no VAE"):
        explorer.check_latent("beta", [0.0])


def test_the_readme_names_each_joint_code_and_its_example_draws_it(explorer):
    """The README's API section says which digit each joint VAE's category stands for and what its /decode
    example draws in each set: retraining a joint VAE changes that map, and the README must follow."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    maps = re.search(r"categories stand for the digits ([\d, ]+) in the any-color set and ([\d, ]+) in the palette set", readme)
    drawn = re.search(r"the example's category (\d) draws a (\d) with the first and a (\d) with the second", readme)
    example = re.search(r'client\.predict\("joint", "(\[[^"]+\])", api_name="/decode"\)', readme)
    assert maps and drawn and example, "the README's sentences on the joint codes changed: update this test"
    z = json.loads(example.group(1))
    category = int(drawn.group(1))
    assert z[10:] == [float(c == category) for c in range(10)]
    for model_set, listed, digit in (("any", maps.group(1), drawn.group(2)), ("palette", maps.group(2), drawn.group(3))):
        name = vae_name("joint", model_set)
        assert [int(d) for d in listed.split(",")] == explorer.vae(name).code_map
        assert int(explorer.read(explorer.decode(name, explorer.check_latent(name, z)))[0]) == int(digit)


def test_prior_draws_take_any_seed_a_page_can_hold(explorer):
    """Seeds 0 to 2^53 - 1, reproducible; anything else gets a message, not torch's overflow (2^64: "Overflow
    when unpacking long long"), a page's rounding (past 2^53) or a silent rounding of 2.5."""
    assert torch.equal(explorer.prior("joint", SEEDS - 1), explorer.prior("joint", float(SEEDS - 1)))
    assert not torch.equal(explorer.prior("joint", 0), explorer.prior("joint", 1))
    for seed in (2**64, 1e20, SEEDS, -1, 2.5, float("nan"), float("inf"), "seven", None):
        with pytest.raises(ExplorerError, match="The seed must be a whole number from 0 to 9007199254740991"):
            explorer.prior("joint", seed)


def test_interpolation_starts_and_ends_at_the_endpoints(explorer):
    start, end = explorer.prior("joint", 1), explorer.prior("joint", 2)
    for spherical in (False, True):
        frames = explorer.interpolate("joint", start, end, 7, spherical=spherical)
        assert frames.shape == (7, 3, 28, 28)
        # the same pictures to within half an 8-bit level: a batch of 7 and a batch of 1 may take kernels
        # that sum in other orders (fp32 rounding of the 576-term sums moves a pixel by well under 1e-3)
        assert torch.allclose(frames[0], explorer.decode("joint", start)[0], rtol=0, atol=0.5 / 255)
        assert torch.allclose(frames[-1], explorer.decode("joint", end)[0], rtol=0, atol=0.5 / 255)
    with pytest.raises(ExplorerError, match="steps must be 2 to 64"):
        explorer.interpolate("joint", start, end, 1)


def test_slerp_keeps_the_norm_of_equal_norm_ends():
    a, b = torch.tensor([3.0, 0, 0]), torch.tensor([0, 3.0, 0])
    path = slerp(a, b, torch.linspace(0, 1, 5)[:, None])
    assert torch.allclose(path.norm(dim=1), torch.full((5,), 3.0))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)


def test_traversal_grids(explorer):
    z = explorer.prior("joint", 0)
    images, columns, rows = explorer.traversal("joint", z, dimension=5)
    assert images.shape == (10 * 9, 3, 28, 28) and columns == 9
    assert rows[0].endswith("(digit 0)") and rows[9].endswith("(digit 9)")
    # each row is drawn in its code: the classifier reads the row's digit in the middle column
    digits, _ = explorer.read(images[4::9])
    assert (digits == torch.arange(10)).float().mean() >= 0.9
    images, columns, rows = explorer.traversal("continuous", explorer.prior("continuous", 0))
    assert images.shape == (16 * 9, 3, 28, 28) and len(rows) == 16
    images, columns, rows = explorer.traversal("discrete", explorer.prior("discrete", 0))
    assert images.shape == (24 * 10, 3, 28, 28) and columns == 10
    vae = explorer.vae("discrete")
    assert rows[0] == f"variable {vae.code_variable} (digits 0-9)" and sorted(rows[1:], key=lambda row: int(row.split()[1])) == [
        f"variable {j}" for j in range(24) if j != vae.code_variable]
    change = images.unflatten(0, (24, 10)).var(dim=1).mean(dim=(1, 2, 3))
    assert torch.equal(change[1:], change[1:].sort(descending=True).values)  # the others: most change first
    with pytest.raises(ExplorerError, match="dimension must be 0 to 9"):
        explorer.traversal("joint", z, dimension=10)


def test_translate_both_directions_keep_the_digit(explorer):
    for coloring in ("gray", "random"):
        x = explorer.sample(4, 2, coloring)
        t = explorer.translate(x)
        images = torch.cat([t.to_color, t.to_color_cycle, t.to_gray, t.to_gray_cycle])
        assert images.shape == (4, 3, 28, 28)
        assert (explorer.read(images)[0] == 4).all()
        assert (t.input_saturation < GRAY_SATURATION) == (coloring == "gray")  # which direction is the input's


@pytest.mark.parametrize("kind, share", [("continuous", 0.4), ("joint", 0.15)])
def test_latent_map_keeps_the_digits_apart(explorer, kind, share):
    """A point's nearest neighbour in the 2D map shows the same digit more often than chance (10%):
    the continuous model's 47% here; the joint model's 20.5%, whose two main directions are the
    Gaussian part's style (its 10-way code does not fit in two dimensions)."""
    coordinates, labels = explorer.latent_map(kind)
    assert coordinates.shape == (1000, 2) and len(labels) == 1000
    distances = torch.cdist(coordinates, coordinates).fill_diagonal_(float("inf"))
    assert (labels[distances.argmin(1)] == labels).float().mean() > share


@pytest.mark.parametrize("kind", ["continuous", "discrete", "joint"])
def test_decoder_map_turns_a_point_into_a_latent(explorer, kind):
    """The sliders tab's map: a point's features are mean + a axes[0] + b axes[1]; at a sample digit's
    coordinates they are its own latent features (the plane through them, exactly for the 2-D part)."""
    spec = explorer.vae(kind).spec
    plane = explorer.decoder_map(kind)
    features = spec.continuous or sum(spec.categorical)
    assert plane["features"] == ("continuous" if spec.continuous else "categorical")
    assert len(plane["mean"]) == features and [len(axis) for axis in plane["axes"]] == [features, features]
    assert len(plane["points"]) == len(plane["labels"]) == len(plane["means"]) == len(plane["codes"]) == 1000
    assert all(len(m) == spec.continuous and len(c) == len(spec.categorical)
               for m, c in zip(plane["means"], plane["codes"]))
    mean, axes = torch.tensor(plane["mean"]), torch.tensor(plane["axes"])
    assert torch.allclose(axes @ axes.T, torch.eye(2), atol=1e-4)  # unit, orthogonal axes (5 decimals kept)
    if spec.continuous:  # each digit's point is its means projected on the plane (all rounded: 3-5 decimals)
        projected = (torch.tensor(plane["means"]) - mean) @ axes.T
        assert torch.allclose(projected, torch.tensor(plane["points"]), atol=0.01)
    assert explorer.decoder_map(kind) is plane  # cached


def test_missing_weights_leave_the_rest_working(tmp_path):
    for name in ("vae-continuous", "classifier", "cyclegan"):
        shutil.copy(ROOT / "weights" / f"{name}.safetensors", tmp_path)
    (tmp_path / "vae-joint.safetensors").write_bytes(b"garbage")
    explorer = Explorer(tmp_path)
    assert set(explorer.vaes) == {"continuous"}
    assert "python -m train vae --kind discrete" in explorer.problems["vae-discrete"]
    assert "not a readable safetensors file" in explorer.problems["vae-joint"]
    with pytest.raises(ExplorerError, match="vae-joint.safetensors"):
        explorer.prior("joint", 0)
    x = explorer.sample(1, 0, "digit")
    assert set(explorer.reconstruct(x).by_vae) == {"continuous"}
    assert explorer.translate(x).to_gray.shape == x.shape


def test_the_2d_vae_is_mapped_on_its_own_plane_and_traversed_as_its_manifold(explorer):
    """Kingma & Welling's figure: the plane decoded at the prior's quantiles (i + 0.5) / 20, z0 across, z1 up; the
    map is the plane itself (a point of it is z), not a projection."""
    assert MANIFOLD_VALUES[0] == pytest.approx(-1.96, abs=0.01) and MANIFOLD_VALUES[-1] == pytest.approx(1.96, abs=0.01)
    images, columns, rows = explorer.traversal("2d-any", torch.zeros(1, 2))
    assert images.shape == (400, 3, 28, 28) and columns == 20 and len(rows) == 20
    corners = torch.tensor([[MANIFOLD_VALUES[0], MANIFOLD_VALUES[-1]], [MANIFOLD_VALUES[-1], MANIFOLD_VALUES[0]]])
    assert torch.allclose(images[[0, -1]], explorer.decode("2d-any", corners), atol=1e-6)  # top left, bottom right
    plane = explorer.decoder_map("2d-any")
    assert plane["mean"] == [0, 0] and plane["axes"] == [[1, 0], [0, 1]]
    post = explorer.vae("2d-any").model.encode(explorer._colored_samples(explorer.vae("2d-any")))
    assert np.allclose(plane["points"], post.mean.detach().numpy(), atol=1e-3)
