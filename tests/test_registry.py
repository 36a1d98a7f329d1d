"""Any VAE a user trains: a latent layout from the CLI, the files the app lists (explorer/registry.py), the
page decoders exported for them, and the files it cannot use, named with their reason."""

import shutil

import pytest
import torch

from explorer.explore import Explorer, ExplorerError, principal_plane
from explorer.registry import find_vaes, page_decoder, user_paths
from explorer.vae import LatentSpec
from explorer.weights import load_model, read_metadata
from train.__main__ import layout_name, main, vae_recipe

from .conftest import ROOT

WEIGHTS = ROOT / "weights"


def test_a_layout_of_ones_own_from_the_cli(user_vae):
    """The same Encoder / Decoder / VAE classes, built from the layout given; the file records it, the kind's
    recipe (joint, for a continuous and a categorical part) and its sample-pack metrics."""
    metadata = read_metadata(user_vae)
    assert (metadata["config"]["continuous"], metadata["config"]["categorical"]) == (3, [10, 10])
    assert metadata["training"]["hyperparameters"]["kind"] == "joint"
    assert metadata["training"]["hyperparameters"]["preset"] is None
    model = load_model(user_vae)
    assert model.spec == LatentSpec(3, (10, 10)) and model.decode(model.prior_sample(2)).shape == (2, 3, 28, 28)
    assert {"neg_elbo", "recon_nll", "kl_continuous", "kl_discrete", "mig"} <= set(metadata["metrics"])


def test_a_layouts_recipe_is_its_kinds_with_the_codes_capacity_scaled():
    joint = vae_recipe("joint", "digit")
    two_codes = vae_recipe("joint", "digit", LatentSpec(3, (10, 10)))
    assert two_codes.config.continuous == 3 and two_codes.config.categorical == (10, 10)
    assert two_codes.objective.capacity_discrete == pytest.approx(2 * joint.objective.capacity_discrete)
    assert two_codes.epochs == joint.epochs and two_codes.lr == joint.lr
    plane = vae_recipe("continuous", "any", LatentSpec(2, ()))
    assert plane.objective == vae_recipe("continuous", "any").objective and plane.config.continuous == 2
    assert layout_name(LatentSpec(3, (10, 10))) == "c3-k10-k10" and layout_name(LatentSpec(10, (10,))) == "joint"


@pytest.mark.parametrize("arguments, message", [
    (["--kind", "joint", "--continuous", "3"], "not both"),
    ([], "give --kind"),
    (["--continuous", "0"], "the latent is empty"),
    (["--continuous", "-1"], "must be 0 or more"),
    (["--categorical", "1"], "must be 2 or more"),
])
def test_a_layout_that_cannot_be_built_is_refused_in_one_line(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["vae", *arguments, "--sample-pack", "--max-steps", "1"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit.value.code == 2 and error.startswith("python -m train") and message in error, error


def test_files_and_folders_are_found_once_each_in_order(tmp_path, user_vae, monkeypatch):
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(user_vae, folder / "vae-joint-any.safetensors")  # a name the shipped files already use
    monkeypatch.setenv("EXPLORER_WEIGHTS", f"{folder}:{tmp_path / 'nowhere'}")
    named = user_paths([str(user_vae), str(user_vae)])
    found, problems = find_vaes(WEIGHTS, named, ["joint-any", "joint"])
    names = [f.name for f in found]
    assert names[:2] == ["joint-any", "joint"] and names[-2:] == ["my-vae", "joint-any-2"]
    assert sum(f.path.resolve() == user_vae.resolve() for f in found) == 1
    assert [f.shipped for f in found[-2:]] == [False, False]
    assert list(problems.values()) == [f"{tmp_path / 'nowhere'} does not exist."]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "a folder without weights files" in find_vaes(WEIGHTS, [empty])[1][str(empty)]


def test_the_explorer_opens_a_users_file_and_names_the_ones_it_cannot_use(tmp_path, user_vae):
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(user_vae.read_bytes()[:5000])
    explorer = Explorer(named=[user_vae, damaged, WEIGHTS / "cyclegan.safetensors"])
    assert "my-vae" in explorer.vaes and not explorer.vaes["my-vae"].shipped
    assert explorer.vaes["my-vae"].summary.startswith("my-vae: 3 continuous + 2 x 10 categorical; palette; -ELBO ")
    assert "not a readable safetensors file" in explorer.problems[str(damaged)]
    assert "is a cyclegan weights file, not a VAE" in explorer.problems[str(WEIGHTS / "cyclegan.safetensors")]
    assert {"joint-any", "continuous", "discrete"} <= set(explorer.vaes)  # the rest loads
    assert explorer.named_vae("joint", "palette", None) == "joint"
    assert explorer.named_vae("joint", "palette", "my-vae") == "my-vae"
    assert explorer.named_vae(None, None, "my-vae.safetensors") == "my-vae"
    with pytest.raises(ExplorerError, match="There is no VAE 'nope': choose one of .*my-vae"):
        explorer.named_vae("joint", "any", "nope")
    z = explorer.check_latent("my-vae", [0.5, -1, 2] + [1] + [0] * 9 + [0] * 9 + [1])
    assert explorer.decode("my-vae", z).shape == (1, 3, 28, 28)
    assert len(explorer.reconstruct(explorer.sample(7, 0, "digit")).by_vae) == len(explorer.vaes)


def test_a_page_decoder_is_exported_once_per_file_content(tmp_path, user_vae):
    """Keyed by the file's hash: the same bytes reuse the export, a retrained file gets its own; a shipped file's
    decoder is web/models' where `train web` exported it from the same bytes."""
    found = find_vaes(tmp_path, [user_vae])[0][0]
    model = load_model(user_vae)
    first = page_decoder(found, model, tmp_path / "cache")
    assert first.parent == tmp_path / "cache" and first.stat().st_size > 10_000
    made = first.stat().st_mtime_ns
    assert page_decoder(found, model, tmp_path / "cache") == first and first.stat().st_mtime_ns == made
    changed = tmp_path / "retrained.safetensors"
    shutil.copy(user_vae, changed)
    with open(changed, "ab") as file:
        file.write(b" ")  # other bytes, the same model
    assert page_decoder(find_vaes(tmp_path, [changed])[0][0], model, tmp_path / "cache") != first
    shipped = find_vaes(WEIGHTS, [], ["joint-any"])[0][0]
    assert page_decoder(shipped, load_model(shipped.path), tmp_path / "cache") == ROOT / "web" / "models" / "vae-joint-any.onnx"


def test_a_decoder_that_does_not_export_is_named_and_the_server_decodes(tmp_path, user_vae, monkeypatch):
    import explorer.explore as explore

    def refuse(found, vae, cache=None):
        if found.name == "my-vae":
            raise explore.ExportError(f"{found.path}: its decoder does not export for the page (RuntimeError: no).")
        return ROOT / "web" / "models" / f"vae-{found.name}.onnx"

    monkeypatch.setattr(explore, "page_decoder", refuse)
    explorer = Explorer(named=[user_vae])
    decoders = explorer.page_decoders()
    assert "my-vae" not in decoders and "joint-any" in decoders
    assert "does not export for the page" in explorer.problems[str(user_vae)]
    assert "The server draws its pictures." in explorer.problems[str(user_vae)]
    assert explorer.decode("my-vae", torch.zeros(1, 23)).shape == (1, 3, 28, 28)
    reconstructions = explorer.reconstruct(explorer.sample(7, 0, "digit")).by_vae  # the others in one graph, it in torch
    assert explorer.reconstruction_session()[0] == [name for name in explorer.vaes if name != "my-vae"]
    assert set(reconstructions) == set(explorer.vaes) and reconstructions["my-vae"].image.shape == (1, 3, 28, 28)


def test_a_one_dimensional_latent_still_has_a_plane():
    """principal_plane pads a missing direction with a zero axis: a map for `--continuous 1`, and for one digit."""
    mean, axes, points = principal_plane(torch.randn(50, 1))
    assert axes.shape == (2, 1) and points.shape == (50, 2) and torch.all(axes[1] == 0) and torch.all(points[:, 1] == 0)
    assert principal_plane(torch.randn(1, 5))[1].shape == (2, 5)
