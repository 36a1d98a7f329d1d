import json

import pytest
import torch
from safetensors.torch import save_file

from explorer.classifier import Classifier, ClassifierConfig
from explorer.weights import WeightsError, load_model, read_metadata, save_weights, update_metrics

TINY = ClassifierConfig(channels=(4, 8), hidden=16)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = Classifier(TINY).eval()
    path = save_weights(tmp_path / "classifier.safetensors", model, training={"steps": 5, "seed": 0},
                        metrics={"accuracy_gray": 0.5})
    return model, path


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    loaded = load_model(path)
    assert not loaded.training and loaded.config == TINY
    x = torch.rand(4, 3, 28, 28)
    assert torch.equal(model(x), loaded(x))
    meta = read_metadata(path)
    assert meta["kind"] == "classifier" and meta["training"] == {"steps": 5, "seed": 0}
    assert meta["config"] == {"channels": [4, 8], "hidden": 16, "dropout": 0.3}


def test_update_metrics_merges(saved):
    _, path = saved
    update_metrics(path, {"accuracy_digit": 0.9})
    assert read_metadata(path)["metrics"] == {"accuracy_gray": 0.5, "accuracy_digit": 0.9}
    load_model(path)  # still loads


def test_missing_file_names_the_command(tmp_path):
    with pytest.raises(WeightsError, match=r"classifier.safetensors does not exist.*python -m train classifier"):
        load_model(tmp_path / "classifier.safetensors")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file(saved, damage):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00\x01not safetensors" * 50,
                      "empty": b""}[damage])
    with pytest.raises(WeightsError, match=r"classifier.safetensors.*(not a readable|do not fit)"):
        load_model(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="not a weights file of this project"):
        load_model(path)


def test_tensors_that_do_not_fit_the_config(saved):
    model, path = saved
    meta = read_metadata(path)
    raw = {key: value if isinstance(value, str) else json.dumps(value) for key, value in meta.items()}
    raw["config"] = json.dumps({"channels": [8, 8], "hidden": 16, "dropout": 0.3})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), raw)
    with pytest.raises(WeightsError, match=r"do not fit the classifier.*size mismatch"):
        load_model(path)


def test_unknown_config_field(saved):
    model, path = saved
    raw = {"format": "colored-mnist-explorer/1", "kind": "classifier", "training": "{}", "metrics": "{}",
           "config": json.dumps({"channels": [4, 8], "width_multiplier": 2})}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), raw)
    with pytest.raises(WeightsError, match="width_multiplier"):
        load_model(path)
