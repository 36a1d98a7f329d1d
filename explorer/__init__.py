"""The library: colored MNIST, the models, weights files and what the explorer computes."""

from .data import COLORINGS, ColoredMNIST, DataError, load_mnist, load_sample_pack
from .explore import Explorer, ExplorerError
from .images import ImageError, to_model_input
from .weights import WeightsError, load_model, read_metadata

__all__ = ["COLORINGS", "ColoredMNIST", "DataError", "Explorer", "ExplorerError", "ImageError", "WeightsError",
           "load_mnist", "load_model", "load_sample_pack", "read_metadata", "to_model_input"]
