"""The benchmark's sections run (a smoke test: its figures come from `python -m bench`, not from tests)."""

from bench.__main__ import measure_inference
from bench.training import measure_training
from train.engine import choose_precision, default_device


def test_training_and_inference_sections_run():
    models = ["classifier", "vae-joint", "cyclegan-hue"]  # each kind of model
    training = measure_training(steps=1, repeats=1, models=models)
    assert list(training) == models
    chosen = choose_precision("auto", default_device()).name
    for figures in training.values():
        assert figures["precision"] == chosen
        assert figures["images_per_second"] > 0 and figures["fp32_images_per_second"] > 0
        assert figures["ratio"] == figures["images_per_second"] / figures["fp32_images_per_second"]
        assert len(figures["rounds"]) == len(figures["fp32_rounds"]) == 1
    inference = measure_inference(repeats=3, photo_width=1200)
    assert set(inference) == {"decode 1 image", "decode 64 images", "translate 1 image", "read a 1 MP photo"}
    assert all(ms > 0 for ms in inference.values())
