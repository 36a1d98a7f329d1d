"""The CycleGAN between gray digits (domain A) and digits in random colors (domain B).

Generators: small ResNets sized for 28x28 (reflect padding, InstanceNorm, residual blocks,
upsample + conv instead of transposed convolutions); discriminators: PatchGANs (4x4 convs, LeakyReLU).
Images are float (N, 3, 28, 28) in [0, 1] in and out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class CycleGANConfig:
    generator_width: int = 16  # channels of the first generator layer (ngf)
    residual_blocks: int = 2
    discriminator_width: int = 32  # channels of the first discriminator layer (ndf)


def conv_norm_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_channels, out_channels, kernel, stride),
            nn.InstanceNorm2d(out_channels, affine=True), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*conv_norm_relu(channels, channels, 3), nn.ReflectionPad2d(1),
                                  nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """7x7 conv, two stride-2 downsamplings (28 -> 7), residual blocks, two upsample + 3x3 convs, 7x7 conv."""

    def __init__(self, config: CycleGANConfig):
        super().__init__()
        w = config.generator_width
        self.net = nn.Sequential(
            *conv_norm_relu(3, w, 7),
            *conv_norm_relu(w, 2 * w, 3, stride=2), *conv_norm_relu(2 * w, 4 * w, 3, stride=2),
            *[ResidualBlock(4 * w) for _ in range(config.residual_blocks)],
            nn.Upsample(scale_factor=2), *conv_norm_relu(4 * w, 2 * w, 3),
            nn.Upsample(scale_factor=2), *conv_norm_relu(2 * w, w, 3),
            nn.ReflectionPad2d(3), nn.Conv2d(w, 3, 7), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    """A PatchGAN for 28x28: a real/fake score for each of 6x6 overlapping patches."""

    def __init__(self, config: CycleGANConfig):
        super().__init__()
        w = config.discriminator_width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),  # 28 -> 14
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.InstanceNorm2d(2 * w, affine=True), nn.LeakyReLU(0.2, inplace=True),  # 7
            nn.Conv2d(2 * w, 1, 4, 1, 1),  # 6x6 patch scores
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CycleGAN(nn.Module):
    """The two generators: to_color (gray A -> colored B) and to_gray (B -> A)."""

    kind = "cyclegan"

    def __init__(self, config: CycleGANConfig = CycleGANConfig()):
        super().__init__()
        self.config = config
        self.color_generator = Generator(config)
        self.gray_generator = Generator(config)

    def to_color(self, x: torch.Tensor) -> torch.Tensor:
        """Gray digits (N, 3, 28, 28) in [0, 1] -> colored digits."""
        return self.color_generator(x)

    def to_gray(self, x: torch.Tensor) -> torch.Tensor:
        """Colored digits (N, 3, 28, 28) in [0, 1] -> gray digits."""
        return self.gray_generator(x)


def init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) convolution weights and zero biases, as in the reference CycleGAN."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class HistoryPool:
    """The last `size` generated images; each query returns, image by image, either the new fake or
    (with probability 1/2, once full) an older one that it replaces: the discriminators see history."""

    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i])
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)
