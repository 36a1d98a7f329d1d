import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal, kl_divergence

import explorer
from explorer.classifier import Classifier, ClassifierConfig
from explorer.data import ColoredMNIST, hue_error_degrees, image_hues
from explorer.vae import (PRESETS, VAE, MaxPool2x2, Posterior, UpsampledConvTranspose, VAEConfig, kl_categorical, kl_gaussian, kl_terms,
                          active_units, iwae_bound, reconstruction_nll, same_size_runs)
from explorer.weights import load_model, save_weights
from train import engine
from train.evaluate import (LATENT_SCORES, SLIDER_FACTORS, add_latent_scores, circular_correlation, evaluate_vae_in_colorings,
                            gray_kept, in_coloring, match_codes, pixel_chroma)
from train.recipes import (VAEObjective, VAERecipe, VAETrainingPass, WithNeighbors, capacity_at, dilate, mutual_information,
                           nearest_neighbors, random_affine, random_thickness, recolor, temperature_at)

from .conftest import ROOT
from .rounding import assert_same_sums

MIN_READ = {"continuous": 0.9, "discrete": 0.75, "joint": 0.9}  # share of sample-pack reconstructions read right (discrete: 80% of the pack, 81% of the test set)
SMALL = {kind: VAEConfig(continuous=c.continuous, categorical=c.categorical[:3], channels=(8, 16), hidden=32)
         for kind, c in PRESETS.items()}


@pytest.fixture(params=list(PRESETS))
def kind(request):
    return request.param


def test_shapes_and_ranges(kind):
    torch.manual_seed(0)
    model = VAE(PRESETS[kind]).eval()
    spec = model.spec
    assert spec.kind == kind
    x = torch.rand(5, 3, 28, 28)
    post = model.encode(x)
    assert post.mean.shape == post.log_var.shape == (5, spec.continuous)
    assert [l.shape for l in post.logits] == [(5, k) for k in spec.categorical]
    z = model.latent(x)
    assert z.shape == (5, spec.size)
    cont, blocks = spec.split(z)
    assert torch.equal(cont, post.mean)
    for block in blocks:  # exact one-hot blocks
        assert torch.equal(block.sum(1), torch.ones(5)) and set(block.unique().tolist()) <= {0.0, 1.0}
    images = model.decode(z)
    assert images.shape == (5, 3, 28, 28) and images.min() >= 0 and images.max() <= 1
    logits, _ = model(x)
    assert logits.shape == (5, 3, 28, 28)
    assert model.prior_sample(4).shape == (4, spec.size)


def test_kl_formulas_match_torch_distributions():
    torch.manual_seed(0)
    mean, log_var = torch.randn(6, 4), torch.randn(6, 4)
    expected = kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_gaussian(mean, log_var), expected)
    logits = torch.randn(6, 10) * 3
    expected = kl_divergence(Categorical(logits=logits), Categorical(probs=torch.full((6, 10), 0.1)))
    torch.testing.assert_close(kl_categorical(logits), expected)
    assert (kl_categorical(logits) >= 0).all()


def test_categorical_variables_of_mixed_sizes_are_computed_in_runs():
    """Variables of sizes (3, 3, 5, 3) make three runs in their order; the KL of the runs is the sum of
    the variables' KLs, and a hard sample puts one 1 in each variable's block of z."""
    torch.manual_seed(0)
    logits = [torch.randn(4, k) for k in (3, 3, 5, 3)]
    runs = same_size_runs(logits)
    assert [tuple(run.shape) for run in runs] == [(4, 2, 3), (4, 1, 5), (4, 1, 3)]
    torch.testing.assert_close(torch.cat([run.flatten(1) for run in runs], 1), torch.cat(logits, 1))
    post = Posterior(torch.zeros(4, 2), torch.zeros(4, 2), [l.double() for l in logits])  # float64: any summation order
    torch.testing.assert_close(kl_terms(post)[1], sum(kl_categorical(l.double()) for l in logits))
    model = VAE(VAEConfig(continuous=2, categorical=(3, 3, 5, 3)))
    z = model.sample_latent(post, temperature=0.5, hard=True)
    _, codes = model.spec.split(z)
    assert [c.sum(1).tolist() for c in codes] == [[1.0] * 4] * 4


def test_schedules():
    assert temperature_at(0, 100, 1.0, 0.5) == 1.0
    assert temperature_at(50, 100, 1.0, 0.5) == pytest.approx(0.5 ** 0.5)
    assert temperature_at(100, 100, 1.0, 0.5) == pytest.approx(0.5)
    assert capacity_at(0, 100, 5.0, 0.5) == 0 and capacity_at(25, 100, 5.0, 0.5) == pytest.approx(2.5)
    assert capacity_at(90, 100, 5.0, 0.5) == 5.0
    assert capacity_at(20, 100, 5.0, 0.8, delay=0.3) == 0 and capacity_at(55, 100, 5.0, 0.8, delay=0.3) == pytest.approx(2.5)


def test_temperature_schedule_is_applied(monkeypatch, pack):
    """The Gumbel-softmax really receives the annealed temperature at each step."""
    seen = []
    gumbel = F.gumbel_softmax

    def spy(logits, tau=1.0, hard=False, **kwargs):
        seen.append(tau)
        return gumbel(logits, tau=tau, hard=hard, **kwargs)

    monkeypatch.setattr(F, "gumbel_softmax", spy)
    x, y = ColoredMNIST(*pack, coloring="digit")[torch.arange(64)]
    objective = VAEObjective(temperature_start=1.0, temperature_end=0.5)
    recipe = VAERecipe(torch.device("cpu"), SMALL["discrete"], objective, x[:4])
    per_step = []
    for step in (0, 50, 100):
        seen.clear()
        recipe.train_step((x, y), step, total_steps=100)
        assert seen and len(set(seen)) == 1  # one temperature for every categorical variable
        per_step.append(seen[0])
    assert per_step == pytest.approx([1.0, 0.5 ** 0.5, 0.5])


def test_a_few_steps_lower_the_loss(kind, tmp_path, pack):
    train_set = ColoredMNIST(*pack, coloring="digit")
    preview = train_set[torch.arange(10)][0]
    settings = engine.Settings(run_dir=tmp_path, epochs=4, batch_size=100, log_every=10)
    recipe, result = engine.fit(lambda d: VAERecipe(d, SMALL[kind], VAEObjective(), preview, lr=3e-3),
                                train_set, settings)
    assert result.curve[-1]["nll"] < 0.8 * result.curve[0]["nll"]
    assert (tmp_path / "samples" / "epoch-004.png").exists()


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("size", [28, 7])
def test_max_pool_2x2_is_nn_max_pool(layout, dtype, size, monkeypatch):
    """The same outputs and gradients as nn.MaxPool2d(2), ties (a flat background) and odd sizes included,
    with the backward under autocast as in training: a bf16 gradient is computed in bf16, not fp32."""
    unpooled = []
    unpool = F.max_unpool2d

    def spy(*args, **kwargs):
        unpooled.append(unpool(*args, **kwargs))
        return unpooled[-1]

    monkeypatch.setattr(F, "max_unpool2d", spy)
    torch.manual_seed(0)
    x = torch.randn(4, 8, size, size).to(dtype).contiguous(memory_format=layout)
    x[:, :, : size // 2] = 0.5  # ties: the first maximum of each window takes the gradient
    grad = torch.randn(4, 8, size // 2, size // 2).to(dtype).contiguous(memory_format=layout)
    results = []
    for pool in (MaxPool2x2(), torch.nn.MaxPool2d(2)):
        leaf = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            y = pool(leaf)
            y.backward(grad)
        results.append((y, leaf.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert results[0][1].is_contiguous(memory_format=layout) and results[0][1].dtype == dtype
    unpooled_here = layout == torch.channels_last and dtype == torch.bfloat16  # fp32, NCHW: the native backward
    assert [grad.dtype for grad in unpooled] == ([dtype] if unpooled_here else [])


@pytest.mark.parametrize("bf16", [False, True])
def test_pooling_before_relu_is_the_same_function(bf16, pack):
    """The encoder and the classifier pool before their ReLUs (faster); outputs and gradients are
    bit-identical to the textbook order, so weights trained either way are the same."""
    x = ColoredMNIST(*pack, "digit")[torch.arange(64)][0]
    torch.manual_seed(0)
    for model, inputs in ((VAE(PRESETS["joint"]).encoder.body, x), (Classifier(ClassifierConfig()).features, x.amax(1, keepdim=True))):
        textbook = copy.deepcopy(model)
        pools = [i for i, layer in enumerate(model) if isinstance(layer, torch.nn.MaxPool2d)]
        assert pools and all(isinstance(model[i + 1], torch.nn.ReLU) for i in pools)
        for i in pools:
            textbook[i], textbook[i + 1] = model[i + 1], model[i]  # (..., ReLU, MaxPool)
        outputs = []
        for module in (model, textbook):
            torch.manual_seed(1)  # the same dropout mask
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                y = module(inputs)
            y.float().square().sum().backward()
            outputs.append((y, [p.grad.clone() for p in module.parameters()]))
        assert torch.equal(outputs[0][0], outputs[1][0])
        assert all(torch.equal(a, b) for a, b in zip(outputs[0][1], outputs[1][1]))


@pytest.mark.parametrize("channels_last", [False, True])
def test_upsampled_conv_transpose_is_upsampling_then_the_transposed_conv(channels_last):
    """The decoder's layers compute nn.Upsample(2) + nn.ConvTranspose2d at the input's resolution: the
    same outputs and gradients (up to float rounding), with the same parameters."""
    torch.manual_seed(0)
    fast = UpsampledConvTranspose(16, 3)
    textbook = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), torch.nn.ConvTranspose2d(16, 3, 3, padding=1))
    textbook[1].load_state_dict(fast.state_dict())
    magnitude = copy.deepcopy(textbook)  # the same linear map on absolute values: sums of |products|
    magnitude[1].load_state_dict({name: value.abs() for name, value in fast.state_dict().items()})
    h = torch.randn(4, 16, 7, 9)
    if channels_last:
        fast, textbook, h = (m.to(memory_format=torch.channels_last) for m in (fast, textbook, h))
    results = []
    for module, x in ((fast, h), (textbook, h), (magnitude, h.abs())):
        x = x.clone().requires_grad_()
        y = module(x)
        grad = torch.arange(y.numel()).reshape(y.shape).sin()
        y.backward(grad.abs() if module is magnitude else grad)
        results.append((y, x.grad, *[p.grad for p in module.parameters()]))
    assert results[0][0].shape == (4, 3, 14, 18)
    # the longest sum: a weight's gradient, over 4 x 14 x 18 output pixels (ours: 4 x 7 x 9 pixels, 4 taps)
    for ours, reference, magnitude in zip(*results):
        assert_same_sums(ours, reference, magnitude, terms=4 * 14 * 18)


def test_decoder_gives_the_same_images_in_channels_last():
    """A channels_last decoder (training) gives the same images as NCHW (the app); in float64, where the
    two layouts' different summation orders leave differences far below torch.testing's float64 tolerance."""
    torch.manual_seed(0)
    decoder = VAE(PRESETS["joint"]).decoder.double()
    z = torch.randn(8, PRESETS["joint"].spec.size, dtype=torch.float64)
    nchw = decoder(z)
    channels_last = copy.deepcopy(decoder).to(memory_format=torch.channels_last)(z)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(channels_last, nchw)


def test_save_load_round_trip(kind, tmp_path):
    torch.manual_seed(0)
    model = VAE(SMALL[kind]).eval()
    path = save_weights(tmp_path / f"vae-{kind}.safetensors", model, training={"coloring": "digit"})
    loaded = load_model(path)
    assert loaded.spec == model.spec
    x = torch.rand(3, 3, 28, 28)
    assert torch.equal(loaded.latent(x), model.latent(x))
    assert torch.equal(loaded.decode(model.latent(x)), model.decode(model.latent(x)))


def test_match_codes_finds_the_permutation():
    labels = torch.arange(10).repeat(20)
    codes = (labels * 3 + 1) % 10  # a relabeling
    codes[:5] = 0  # a few mistakes
    accuracy, mapping = match_codes(codes, labels, 10)
    assert accuracy == pytest.approx(1 - 4 / 200)  # one of the five was right already
    assert all(mapping[(d * 3 + 1) % 10] == d for d in range(10))


def test_mutual_information_of_two_views():
    labels = torch.arange(10).repeat(10)
    one_hot = F.one_hot(labels, 10).float()
    assert mutual_information(one_hot, one_hot).item() == pytest.approx(math.log(10), abs=1e-4)  # agree, balanced
    uniform = torch.full((100, 10), 0.1)
    assert mutual_information(one_hot, uniform).item() == pytest.approx(0.0, abs=1e-5)  # one view says nothing
    collapsed = F.one_hot(torch.zeros(100, dtype=torch.long), 10).float()
    assert mutual_information(collapsed, collapsed).item() == pytest.approx(0.0, abs=1e-4)  # one code for all


def test_detached_code_gets_no_gradient_from_the_reconstruction():
    torch.manual_seed(0)
    net = VAETrainingPass(VAE(PRESETS["joint"]))
    x = torch.rand(4, 3, 28, 28)
    for detach_code in (False, True):
        net.zero_grad()
        logits, *_ = net(x, 0.67, detach_code=detach_code)
        reconstruction_nll(logits, x).mean().backward()
        code_head = net.vae.encoder.logits.weight.grad
        assert (code_head is None or not code_head.any()) == detach_code
        assert net.vae.encoder.mean.weight.grad.any()  # the Gaussian part still learns from it


def test_straight_through_codes_are_one_hot_with_a_gradient():
    torch.manual_seed(0)
    net = VAETrainingPass(VAE(PRESETS["discrete"]))
    x = torch.rand(4, 3, 28, 28)
    decoded = []
    net.vae.decoder.register_forward_pre_hook(lambda module, args: decoded.append(args[0]))
    for hard in (False, True):
        net.zero_grad()
        logits, *_ = net(x, 0.67, hard=hard)
        reconstruction_nll(logits, x).mean().backward()
        codes = decoded[-1].reshape(4, 24, 10)
        assert torch.equal(codes.amax(-1), torch.ones(4, 24)) == hard  # one-hot codes, as the decoder gets at test time
        assert net.vae.encoder.logits.weight.grad.any()  # the relaxed sample's gradient reaches the codes either way


def test_the_code_cycle_asks_the_decoded_image_for_its_code():
    """code_cycle: each digit decoded with a random code, encoded again; the cross-entropy between the code
    given and the code read (log 10 nats for an untrained model) trains the decoder to draw the code."""
    torch.manual_seed(0)
    net = VAETrainingPass(VAE(SMALL["joint"]))
    x, codes = torch.rand(6, 3, 28, 28), torch.arange(6) % 10
    _, post, _, cycle_logits = net(x, 0.67, cycle_codes=codes)
    assert cycle_logits.shape == (6, 10)
    F.cross_entropy(cycle_logits, codes).backward()
    assert net.vae.decoder.net[0].weight.grad.any() and net.vae.encoder.logits.weight.grad.any()
    assert net.vae.encoder.mean.weight.grad is None or not net.vae.encoder.mean.weight.grad.any()  # z's mean: cut
    recipe = VAERecipe("cpu", SMALL["joint"], VAEObjective(code_cycle=1.0), x[:4])
    losses = recipe.train_step((x, torch.zeros(6, dtype=torch.long)), 0, 10)
    assert abs(losses["code_cycle"].item() - math.log(10)) < 0.5


@pytest.mark.parametrize("free_bits", [0.0, 1.0])
def test_free_bits_only_charge_the_continuous_kl_above_its_capacity(free_bits):
    """JointVAE's gamma |KL - C| rewards a KL below C (a constant mean earns it without carrying anything);
    with free bits the KL costs nothing below C and gamma per nat above it."""
    torch.manual_seed(0)
    objective = VAEObjective(capacity_continuous=5.0, capacity_ramp=1e-9, capacity_discrete=0.0, free_bits=free_bits)
    recipe = VAERecipe("cpu", SMALL["joint"], objective, torch.rand(4, 3, 28, 28))
    batch = (torch.rand(8, 3, 28, 28), torch.zeros(8, dtype=torch.long))
    for log_var, below in ((-0.5, True), (-12.0, False)):  # KL of about 0.5 nats per image, or far above 5
        torch.nn.init.zeros_(recipe.model.encoder.log_var.weight)
        torch.nn.init.constant_(recipe.model.encoder.log_var.bias, log_var)
        losses = recipe.train_step(batch, 10, 10)
        kl_term = losses["loss"] - losses["nll"] - objective.gamma * (losses["kl_disc"] - 0.0).abs()
        expected = objective.gamma * ((losses["kl_cont"] - 5.0).clamp_min(0) if free_bits else (losses["kl_cont"] - 5.0).abs())
        assert (losses["kl_cont"] < 5.0) == below
        torch.testing.assert_close(kl_term, expected, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("channels_last", [False, True])
def test_both_views_go_through_the_encoder_in_one_pass(channels_last):
    """... in the images' memory format (the second view's grid_sample gives NCHW)."""
    torch.manual_seed(0)
    recipe = VAERecipe("cpu", SMALL["joint"], VAEObjective(consistency=100.0), torch.rand(4, 3, 28, 28))
    images = torch.rand(8, 3, 28, 28)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    encoded = []
    recipe.model.encoder.register_forward_pre_hook(lambda module, args: encoded.append(args[0]))
    losses = recipe.train_step((images, torch.zeros(8)), 0, 10)
    assert [len(x) for x in encoded] == [8 + 8] and math.isfinite(losses["code_mi"])
    assert encoded[0].is_contiguous(memory_format=torch.channels_last) == channels_last


def test_dilate_is_3x3_max_pooling():
    images = torch.rand(8, 3, 28, 28) * (torch.rand(8, 3, 28, 28) > 0.7)  # sparse strokes in [0, 1]
    assert torch.equal(dilate(images), F.max_pool2d(images, 3, 1, 1))


def test_recolor_keeps_the_stroke_and_changes_the_color(pack):
    images, labels = pack
    x, y = ColoredMNIST(images, labels, "digit")[torch.arange(64)]
    torch.manual_seed(0)
    repainted = recolor(x, y)
    stroke, new_stroke = x.amax(1), repainted.amax(1)
    scale = (new_stroke.amax((1, 2)) / stroke.amax((1, 2)))[:, None, None]
    torch.testing.assert_close(new_stroke, stroke * scale, rtol=2 ** -20, atol=1e-6)  # the same stroke (float32)
    hue = lambda t: image_hues(t, stroke > 0.3)  # noqa: E731
    assert hue_error_degrees(hue(x), hue(repainted)).median() > 10  # another color, for most digits


def test_second_view_distortions():
    bar = torch.zeros(64, 3, 28, 28)
    bar[..., 4:24, 13:15] = 1  # a vertical stroke
    assert torch.equal(random_thickness(bar, 0.0), bar)
    thick = random_thickness(bar, 1.0)
    assert (thick >= bar).all() and (thick.sum((1, 2, 3)) > bar.sum((1, 2, 3))).all()  # only ever thicker
    torch.manual_seed(0)
    sheared = random_affine(bar, degrees=0, scale=0, shift_px=0, shear=0.5)
    columns = torch.arange(28.0)

    def centre(rows):  # mean column of the ink in those rows
        ink = sheared[:, 0, rows].sum(1)
        return (ink * columns).sum(1) / ink.sum(1)

    slant = centre(slice(20, 24)) - centre(slice(4, 8))  # the stroke's bottom against its top
    assert slant.abs().max() > 4 and slant.abs().min() < slant.abs().max() / 2  # random, up to 0.5 x 16 px


def test_nearest_neighbors_of_real_digits(pack):
    images, labels = pack
    neighbors = nearest_neighbors(images, 5)
    assert neighbors.shape == (len(labels), 5)
    assert not (neighbors == torch.arange(len(labels))[:, None]).any()  # never the digit itself
    torch.manual_seed(1)
    assert torch.equal(nearest_neighbors(images, 5), neighbors)  # no randomness: the same in every run
    flat = images.reshape(len(images), -1).float()
    first = neighbors[:, 0]
    others = torch.cdist(flat[:20], flat).topk(2, largest=False).indices[:, 1]  # exact nearest in pixel space
    assert (first[:20] == others).float().mean() >= 0.7  # 50 principal components keep most of the order
    assert (labels[neighbors] == labels[:, None]).float().mean() > 0.75  # mostly the same digit (81% of 1,000; 96.6% of 60,000)


def test_neighbor_pairs_feed_the_consistency_term(tmp_path, pack):
    images, labels = pack
    train_set = WithNeighbors(ColoredMNIST(images, labels, "gray"), nearest_neighbors(images, 3))
    x, y, neighbor = train_set[torch.arange(8)]
    assert x.shape == neighbor.shape == (8, 3, 28, 28) and torch.equal(y, labels[:8])
    assert not torch.equal(x, neighbor)
    preview = x[:4]
    settings = engine.Settings(run_dir=tmp_path, epochs=1, batch_size=100, log_every=5)
    for agreement in ("mi", "dot"):
        objective = VAEObjective(consistency=100.0, agreement=agreement, shear=0.3, thicken=1.0, neighbors=3)
        _, result = engine.fit(lambda d: VAERecipe(d, SMALL["joint"], objective, preview), train_set,
                               dataclasses.replace(settings, run_dir=tmp_path / agreement))
        assert all(math.isfinite(entry["code_mi"]) for entry in result.curve)


@pytest.mark.parametrize("name", [f"vae-{kind}{suffix}" for suffix in ("", "-any") for kind in PRESETS])
def test_shipped_vaes(name, pack):
    """The shipped weights of both sets load through the public API, record their test metrics, and
    reconstruct real test digits that the classifier reads as their label: the palette set in its palette,
    the any-color set in random hues and in gray."""
    path = ROOT / "weights" / f"{name}.safetensors"
    vae = explorer.load_model(path)
    kind = name.removeprefix("vae-").removesuffix("-any")
    coloring = "any" if name.endswith("-any") else "digit"
    assert vae.spec.kind == kind and not vae.training
    meta = explorer.read_metadata(path)
    assert meta["training"]["coloring"] == coloring and meta["training"]["data"].startswith("MNIST train set (60000")
    metrics = meta["metrics"]
    assert metrics["test_data"] == f"MNIST test set (10000 images), {coloring} coloring"
    assert {"neg_elbo", "recon_bce", "recon_mse", "kl_continuous", "kl_discrete", "active_dimensions"} <= set(metrics)
    classifier = load_model(ROOT / "weights" / "classifier.safetensors")
    for test_coloring in ("digit",) if coloring == "digit" else ("random", "gray"):
        x, labels = ColoredMNIST(*pack, coloring=test_coloring)[torch.arange(len(pack[1]))]
        with torch.no_grad():
            read = classifier.predict(vae.decode(vae.latent(x)))
        assert (read == labels).float().mean() >= MIN_READ[kind], test_coloring
    if kind == "joint":
        assert metrics["code_accuracy"] >= (0.98 if coloring == "digit" else 0.97) and len(metrics["code_map"]) == 10
    assert set(metrics["colorings"]) == {"digit", "random", "gray"}  # python -m train evaluate, in each coloring
    if coloring == "digit":  # the file's own metrics are those of its coloring
        assert metrics["colorings"]["digit"]["neg_elbo"] == metrics["neg_elbo"]
    assert ("hue_error_median_degrees" in metrics["colorings"]["random"]) == bool(vae.spec.continuous)
    assert all(set(LATENT_SCORES) <= set(each) for each in metrics["colorings"].values())  # issue 42's scores, each coloring
    assert metrics["iwae_samples"] >= 500 and metrics["iwae_digits"] == 500 and metrics["evaluation_seconds"] < 600
    assert ("factor_directions" in metrics) == bool(vae.spec.continuous)
    if vae.spec.continuous:  # the dimensions that carry the hue by mutual information are those the correlation finds
        correlation = metrics["colorings"]["random"]["hue_correlation"]
        table = metrics["colorings"]["random"]["mutual_information"]
        by_information = [row[table["factors"].index("hue")] for row in table["table"][:vae.spec.continuous]]
        by_correlation = {d for d, r in enumerate(correlation) if r >= 0.5}
        assert set(torch.tensor(by_information).argsort(descending=True)[:len(by_correlation)].tolist()) == by_correlation


def test_circular_correlation():
    """Mardia's circular-linear correlation: 1 for a sinusoid of the angle (any phase), 0 for a column that
    does not depend on it, and a partial value for a sinusoid plus noise."""
    hues = torch.rand(5000, generator=torch.Generator().manual_seed(0))
    angle = hues * 2 * math.pi
    noise = torch.randn(5000, generator=torch.Generator().manual_seed(1))
    values = torch.stack([angle.cos(), (angle + 1.0).sin() * 3 + 2, noise, angle.cos() + noise], 1)
    r = circular_correlation(values, hues)
    torch.testing.assert_close(r[:2], torch.ones(2), rtol=0, atol=1e-5)  # float32 result of a float64 formula
    assert r[2] < 0.05 and 0.5 < r[3] < 0.85  # cos has variance 1/2: r = sqrt(0.5 / 1.5) = 0.58 for the last


def test_evaluation_in_every_coloring(pack):
    """The joint VAE's metrics in each coloring of the test digits: its own is the palette (where the
    color gives the digit away); the hue kept and the code's agreement across two hues are measured."""
    vae = explorer.load_model(ROOT / "weights" / "vae-joint.safetensors")
    small = (pack[0][:300], pack[1][:300])
    with torch.inference_mode():
        metrics = evaluate_vae_in_colorings(vae, *small, "digit")
    colorings = metrics["colorings"]
    assert set(colorings) == {"digit", "random", "gray"}
    assert colorings["digit"]["code_accuracy"] == metrics["code_accuracy"] >= 0.98
    assert set(colorings["random"]) == {"neg_elbo", "recon_nll", "kl_continuous", "kl_discrete", "recon_read_as_label",
                                        "code_accuracy", "toggle_fidelity", "hue_error_median_degrees", "hue_correlation",
                                        "same_code_two_hues"}
    for each in colorings.values():  # the rate and the distortion, whose sum is the ELBO, in every coloring
        assert each["kl_continuous"] + each["kl_discrete"] + each["recon_nll"] == pytest.approx(each["neg_elbo"], rel=1e-4)
    assert metrics["coloring_seeds"] == {"random": 1234, "random, the second hue": 1235}
    assert 0 <= colorings["random"]["hue_error_median_degrees"] <= 180
    assert len(colorings["random"]["hue_correlation"]) == 10 and all(0 <= r <= 1 for r in colorings["random"]["hue_correlation"])
    assert 0 <= colorings["random"]["same_code_two_hues"] <= 1
    assert colorings["gray"]["neg_elbo"] > colorings["digit"]["neg_elbo"]  # gray is not what it learned
    assert colorings["gray"]["tinted_share"] > 0.3  # ... and it paints gray digits in a palette color


def test_every_coloring_measures_the_variable_matched_in_the_training_coloring(pack):
    """The discrete VAE has 24 categorical variables: in every coloring, its code accuracy and the share of
    digits with the same code in two hues are those of the variable matched to the digits in its training
    coloring (the one the app shows), not of variable 0 or of each coloring's own best."""
    vae = explorer.load_model(ROOT / "weights" / "vae-discrete.safetensors")
    images, labels = pack[0][:200], pack[1][:200]
    with torch.inference_mode():
        metrics = evaluate_vae_in_colorings(vae, images, labels, "digit")
        variable = metrics["code_variable"]
        codes = {coloring: vae.encode(in_coloring(images, labels, coloring)).logits[variable].argmax(1)
                 for coloring in ("random", "gray")}
        second_hue = ColoredMNIST(images, labels, "random", seed=1235)[torch.arange(len(labels))][0]
        same = vae.encode(second_hue).logits[variable].argmax(1) == codes["random"]
    assert variable != 0  # the file's variable 19: a test that variable 0 would pass proves nothing
    for coloring, code in codes.items():
        assert metrics["colorings"][coloring]["code_accuracy"] == match_codes(code, labels, 10)[0]
    assert metrics["colorings"]["random"]["same_code_two_hues"] == same.float().mean().item()


def test_gray_kept_measures_the_color_a_gray_digit_gains(pack):
    """pixel_chroma is the largest channel difference ((1, 0.9, 0.9) is 0.1 off gray); the any-color VAEs
    return gray digits gray (mean chroma of the strokes < 0.1), the palette set's continuous VAE paints them."""
    faint_pink = torch.tensor([1.0, 0.9, 0.9]).reshape(1, 3, 1, 1).expand(2, 3, 4, 4)
    torch.testing.assert_close(pixel_chroma(faint_pink), torch.full((2, 4, 4), 0.1), rtol=0, atol=1e-7)  # one fp32 subtraction
    assert pixel_chroma(torch.full((1, 3, 2, 2), 0.7)).eq(0).all()
    small = (pack[0][:200], pack[1][:200])
    with torch.inference_mode():
        kept = {name: gray_kept(explorer.load_model(ROOT / "weights" / f"{name}.safetensors"), *small)
                for name in ("vae-continuous", "vae-continuous-any", "vae-joint-any", "vae-discrete-any")}
    assert kept["vae-continuous"]["tinted_share"] > 0.9
    for name in ("vae-continuous-any", "vae-joint-any", "vae-discrete-any"):
        assert kept[name]["residual_chroma"] < 0.1 and kept[name]["tinted_share"] < 0.1, name


def test_the_iwae_bound_reaches_log_p_x_where_it_can_be_summed():
    """A VAE whose latent is one categorical variable of 3 categories: log p(x) = log sum_c p(c) p(x|c) exactly.
    Its decodings are hundreds of nats apart, so the bound is the share of draws that hit the best category:
    with 20,000 draws its spread is about 0.01 nats, and it is within 0.05 of log p(x); one draw is the ELBO,
    hundreds of nats below."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(continuous=0, categorical=(3,), channels=(4, 8), hidden=16)).eval()
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(3)  # decodings far apart (the posterior stays broad: about 1/3 each)
        x = torch.rand(4, 3, 28, 28).round()
        logits_per_code = model.decoder(torch.eye(3))
        log_px_given_c = torch.stack([-reconstruction_nll(logits_per_code[c:c + 1].expand(4, -1, -1, -1), x)
                                      for c in range(3)])  # (3, N)
        exact = torch.logsumexp(log_px_given_c.double() - math.log(3), 0)
    generator = torch.Generator().manual_seed(1)
    bound = iwae_bound(model, x, samples=20_000, chunk=1000, generator=generator)
    assert bound.dtype == torch.float64 and bound.shape == (4,)
    assert torch.allclose(bound, exact, rtol=0, atol=0.05)
    one_draw = torch.stack([iwae_bound(model, x, samples=1, generator=generator) for _ in range(20)]).mean(0)
    assert (one_draw < exact - 100).all()


def test_the_iwae_bound_tightens_with_more_draws(pack):
    images, labels = pack
    model = load_model(ROOT / "weights" / "vae-joint-any.safetensors")
    x = in_coloring(images[::100], labels[::100], "random")
    generator = torch.Generator().manual_seed(0)
    bounds = [iwae_bound(model, x, samples=k, generator=generator).mean().item() for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2] < 0


def test_active_units_are_the_dimensions_whose_mean_moves():
    means = torch.zeros(500, 4)
    means[:, 0] = torch.linspace(-1, 1, 500)  # variance 0.34
    means[:, 1] = 0.05 * torch.linspace(-1, 1, 500)  # variance 0.0008: inactive
    means[:, 2] = 3.0  # constant
    means[:, 3] = torch.randn(500, generator=torch.Generator().manual_seed(0))
    assert active_units(means) == 2


def test_the_latent_scores_and_factor_sliders_of_a_vae(pack):
    """add_latent_scores on the palette joint VAE over a third of the sample pack (every class): in each coloring
    the MI table of its 10 dimensions and 1 variable against the factors that coloring varies, the scores in
    [0, 1], an IWAE bound at least as tight as the ELBO from the same draws (log-mean-exp >= mean, per digit);
    in its palette the code variable carries the digit; every factor slider is a unit direction over its
    active dimensions, and moving along slant slants the decoded digits (this VAE's slant direction has an R²
    of 0.88; its thickness direction, 0.26, thins them: the file's purity table says so)."""
    from explorer.factors import FACTORS, morphometrics_of_test_digits

    vae = explorer.load_model(ROOT / "weights" / "vae-joint.safetensors")
    order = torch.arange(1000).view(10, 100).T.flatten()[:340]  # 34 of each class, the classes in turn
    images, labels = pack[0][order], pack[1][order]
    morphometrics = morphometrics_of_test_digits(pack[1], sample_pack=True)[order]
    with torch.inference_mode():
        metrics = evaluate_vae_in_colorings(vae, images, labels, "digit")
        add_latent_scores(metrics, vae, images, labels, morphometrics, "digit", iwae_digits=20, purity_digits=30)
    assert metrics["iwae_samples"] >= 500 and metrics["iwae_digits"] == 20 and metrics["factor_bins"] == 20
    for coloring, each in metrics["colorings"].items():
        assert set(LATENT_SCORES) <= set(each), coloring
        assert all(0 <= each[name] <= 1 for name in ("mig", "sap", "dci_disentanglement", "dci_completeness"))
        assert each["iwae_gap"] >= 0 and each["neg_iwae_se"] > 0 and 0 < each["active_units"] <= 10
        table = each["mutual_information"]
        assert table["latents"] == [f"z{d}" for d in range(10)] + ["v0"]
        constant = {"digit": (), "random": ("brightness",), "gray": ("hue", "brightness")}[coloring]  # one paint
        expected = [f for f in FACTORS if f not in constant]
        assert table["factors"] == expected and len(table["table"]) == 11 and len(table["table"][0]) == len(expected)
    digit = metrics["mutual_information"]
    assert digit["table"][-1][digit["factors"].index("digit")] >= 0.8  # the code is the digit
    directions = metrics["factor_directions"]
    assert directions["factors"] == list(SLIDER_FACTORS)
    active = torch.tensor(metrics["kl_per_dimension"]) >= 0.01
    for name, direction in zip(directions["factors"], torch.tensor(directions["directions"])):
        if name == "brightness":  # the palette gives each digit's brightness: nothing is left once its code is known
            assert not direction.any() and name not in metrics["factor_purity"]
        else:
            assert direction.norm() == pytest.approx(1, abs=1e-4) and not direction[~active].any()
    assert metrics["factor_purity"]["slant"]["moved"]["slant"] > 0.2
    assert all(0 <= each["purity"] <= 1 for each in metrics["factor_purity"].values())
