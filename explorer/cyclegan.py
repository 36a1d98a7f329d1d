"""The CycleGAN between gray digits (domain A) and digits in random colors (domain B).

Generators: small ResNets sized for 28x28 (InstanceNorm, residual blocks, upsample + conv instead of
transposed convolutions); discriminators: PatchGANs (4x4 convs, LeakyReLU).
Images are float (N, 3, 28, 28) in [0, 1] in and out.

With `hue_conditioned`, the gray -> color generator and the color discriminator also see the asked
color (an RGB triple): the user chooses the color. The generator takes it by FiLM (a per-channel scale
and shift of its features, computed from the color) at the bottleneck and before its last layer:
constant color planes at its input would be erased by the InstanceNorm that follows. The
discriminator takes it as 3 constant input planes and judges (image, color) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .data import hue_to_rgb


@dataclass
class CycleGANConfig:
    generator_width: int = 16  # channels of the first generator layer (ngf)
    residual_blocks: int = 2
    discriminator_width: int = 32  # channels of the first discriminator layer (ndf)
    hue_conditioned: bool = False  # to_color takes the color to paint in


def color_planes(color: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Colors (N, 3) -> constant planes (N, 3, H, W) the size of `like`, to concatenate as input channels."""
    return color.to(like.dtype)[:, :, None, None].expand(-1, -1, *like.shape[-2:])


class InstanceNorm(nn.GroupNorm):
    """InstanceNorm2d(channels, affine=True), written as GroupNorm with one channel per group (the same
    function and parameters), run on an NCHW copy of a channels_last input. On the CPU in bf16, this
    is 3x faster than InstanceNorm2d and 16-33x faster than GroupNorm on channels_last tensors, and the
    convolutions around it are 2x faster in channels_last."""

    def __init__(self, channels: int):
        super().__init__(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_contiguous():
            return super().forward(x)
        return super().forward(x.contiguous()).contiguous(memory_format=torch.channels_last)


def conv_norm_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Zero padding, not the reference's reflection: an MNIST digit's border is black, so the two
    agree at the input, and a separate padding op cost a quarter of the training step."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2),
                         InstanceNorm(out_channels), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_norm_relu(channels, channels, 3),
                                  nn.Conv2d(channels, channels, 3, padding=1), InstanceNorm(channels))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """7x7 conv, two stride-2 downsamplings (28 -> 7), residual blocks; two upsample + 3x3 convs; 7x7 conv.
    Conditioned: FiLM from the color at the bottleneck (after the residual blocks) and before the head."""

    def __init__(self, config: CycleGANConfig, conditioned: bool = False):
        super().__init__()
        w = config.generator_width
        self.down = nn.Sequential(conv_norm_relu(3, w, 7), conv_norm_relu(w, 2 * w, 3, stride=2),
                                  conv_norm_relu(2 * w, 4 * w, 3, stride=2),
                                  *[ResidualBlock(4 * w) for _ in range(config.residual_blocks)])
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), conv_norm_relu(4 * w, 2 * w, 3),
                                nn.Upsample(scale_factor=2), conv_norm_relu(2 * w, w, 3))
        self.head = nn.Sequential(nn.Conv2d(w, 3, 7, padding=3), nn.Sigmoid())
        self.widths = (4 * w, w)  # the channels FiLM scales and shifts: at the bottleneck, before the head
        self.film = nn.Linear(3, 2 * sum(self.widths)) if conditioned else None
        if self.film is not None:
            nn.init.zeros_(self.film.weight)  # starts as the identity: scale 1, shift 0
            nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, color: torch.Tensor | None = None) -> torch.Tensor:
        """Images x (N, 3, 28, 28) in [0, 1] -> translated images (N, 3, 28, 28) in [0, 1]. A conditioned
        generator (FiLM) needs `color` (N, 3), RGB in [0, 1], the hue to paint in; ValueError without it.
        An unconditioned one ignores it."""
        if self.film is None:
            return self.head(self.up(self.down(x)))
        if color is None:
            raise ValueError("This generator paints in a chosen color: pass color (N, 3).")
        scale_1, shift_1, scale_2, shift_2 = torch.split(self.film(color.to(x.dtype)), [self.widths[0]] * 2 + [self.widths[1]] * 2, dim=1)
        h = self.down(x)
        h = h * (1 + scale_1[:, :, None, None]) + shift_1[:, :, None, None]
        h = self.up(h)
        h = h * (1 + scale_2[:, :, None, None]) + shift_2[:, :, None, None]
        return self.head(h)


class Discriminator(nn.Module):
    """A PatchGAN for 28x28: a real/fake score for each of 6x6 overlapping patches."""

    def __init__(self, config: CycleGANConfig, in_channels: int = 3):
        super().__init__()
        w = config.discriminator_width
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),  # 28 -> 14
            nn.Conv2d(w, 2 * w, 4, 2, 1), InstanceNorm(2 * w), nn.LeakyReLU(0.2, inplace=True),  # 7
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
        self.color_generator = Generator(config, conditioned=config.hue_conditioned)
        self.gray_generator = Generator(config)

    def to_color(self, x: torch.Tensor, color: torch.Tensor | None = None) -> torch.Tensor:
        """Gray digits (N, 3, 28, 28) in [0, 1] -> colored digits. A hue-conditioned model paints in
        `color` (N, 3) RGB in [0, 1] (default: random hues); the plain one chooses the color itself."""
        if not self.config.hue_conditioned:
            if color is not None:
                raise ValueError("This CycleGAN chooses the color itself; the hue-conditioned one takes a color.")
            return self.color_generator(x)
        if color is None:
            color = hue_to_rgb(torch.rand(len(x), device=x.device))
        return self.color_generator(x, color)

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
        """Fakes (N, C, H, W) -> the images the discriminator sees (N, C, H, W), detached: each the new
        fake, or an older one from the pool (Shrivastava et al. 2017; CycleGAN, Zhu et al. 2017, sec. 4)."""
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
