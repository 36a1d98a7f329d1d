"""The digit classifier: the judge of "which digit is this" for every evaluation and for the app."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ClassifierConfig:
    channels: tuple[int, ...] = (32, 64, 128)  # one 3x3 conv block (conv, BN, 2x2 max-pool, ReLU) each
    hidden: int = 128
    dropout: float = 0.3


class Classifier(nn.Module):
    """A small CNN that reads the shape of a digit, never its color.

    Its first step keeps each pixel's brightest channel, so a digit in any coloring (palette, random
    hue or gray) gives the same input up to brightness: the color can't be a shortcut to the label.
    """

    kind = "classifier"

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = config
        blocks, width, size = [], 1, 28
        for channels in config.channels:
            blocks += [nn.Conv2d(width, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                       nn.MaxPool2d(2), nn.ReLU(inplace=True)]  # = ReLU then pooling, on 4x fewer values
            width, size = channels, size // 2
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(width * size * size, config.hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(config.dropout), nn.Linear(config.hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10) for images x (N, 3, 28, 28) in [0, 1]."""
        return self.head(self.features(x.amax(dim=1, keepdim=True)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The digit read in each image: int64 (N,)."""
        return self(x).argmax(dim=1)
