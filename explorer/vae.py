"""The VAEs: one Encoder and one Decoder class built from the latent spec, put together by one VAE class.

The three kinds differ only in their latent: `continuous` (Gaussian), `discrete` (categorical variables)
and `joint` (both, as in JointVAE). z = [continuous part, one one-hot block per categorical variable].
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LatentSpec:
    """The layout of z: `continuous` Gaussian dimensions, then one one-hot block per categorical variable."""

    continuous: int
    categorical: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.continuous + sum(self.categorical)

    @property
    def kind(self) -> str:
        if self.continuous and self.categorical:
            return "joint"
        return "continuous" if self.continuous else "discrete"

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """z (N, size) -> continuous part (N, continuous) and the list of one-hot blocks (N, K_i)."""
        parts = torch.split(z, [self.continuous, *self.categorical], dim=-1)
        return parts[0], list(parts[1:])


@dataclass
class VAEConfig:
    continuous: int = 10  # Gaussian dimensions
    categorical: tuple[int, ...] = (10,)  # the number of categories of each categorical variable
    channels: tuple[int, int] = (32, 64)  # the two convolution layers (the decoder mirrors them)
    hidden: int = 256  # the encoder's linear layer
    dropout: float = 0.1  # after the encoder's linear layer

    @property
    def spec(self) -> LatentSpec:
        return LatentSpec(self.continuous, tuple(self.categorical))


PRESETS = {
    "continuous": VAEConfig(continuous=16, categorical=()),
    "discrete": VAEConfig(continuous=0, categorical=(10,) * 24),
    "joint": VAEConfig(continuous=10, categorical=(10,)),
}


class Posterior(NamedTuple):
    """q(z|x): Gaussian mean and log-variance (N, continuous), and logits (N, K_i) of each categorical."""

    mean: torch.Tensor
    log_var: torch.Tensor
    logits: list[torch.Tensor]


class _MaxPool2x2Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y, indices = F.max_pool2d_with_indices(x, 2)
        ctx.save_for_backward(x, indices)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, indices = ctx.saved_tensors
        if x.dtype == torch.bfloat16 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            with torch.autocast(x.device.type, enabled=False):  # autocast would compute it in fp32
                return F.max_unpool2d(grad_y, indices, 2, output_size=x.shape[-2:])
        return torch.ops.aten.max_pool2d_with_indices_backward(grad_y, x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices)


class MaxPool2x2(nn.MaxPool2d):
    """nn.MaxPool2d(2) with a faster backward for bf16 channels_last tensors: max_unpool2d writes each
    window's gradient to its maximum's position. The windows do not overlap, so it is the same gradient
    as max_pool2d's own backward (tests/test_vae.py), whose bf16 channels_last loop is scalar. fp32 and
    NCHW tensors keep that backward, the faster one for them (fp32 channels_last, 256 x 64 x 14 x 14,
    forward + backward on 2 cores of an Intel Xeon with torch's kernels capped at AVX2: 1.8 vs 2.8 ms)."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _MaxPool2x2Function.apply(x)


class Encoder(nn.Module):
    """Two conv layers, each followed by 2x2 max-pooling; a linear layer with dropout; one head per
    latent part: mean and log-variance for the Gaussian part, logits for the categorical variables."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.spec = config.spec
        c1, c2 = config.channels
        self.body = nn.Sequential(  # pooling before ReLU: the same function (both monotone), ReLU on 4x fewer values
            nn.Conv2d(3, c1, 3, padding=1), MaxPool2x2(), nn.ReLU(),  # 28 -> 14
            nn.Conv2d(c1, c2, 3, padding=1), MaxPool2x2(), nn.ReLU(),  # 14 -> 7
            nn.Flatten(), nn.Linear(c2 * 7 * 7, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
        )
        n = self.spec.continuous
        self.mean = nn.Linear(config.hidden, n) if n else None
        self.log_var = nn.Linear(config.hidden, n) if n else None
        self.logits = nn.Linear(config.hidden, sum(self.spec.categorical)) if self.spec.categorical else None

    def forward(self, x: torch.Tensor) -> Posterior:
        h = self.body(x)
        empty = h.new_zeros(len(h), 0)
        mean = self.mean(h) if self.mean is not None else empty
        log_var = self.log_var(h) if self.log_var is not None else empty
        logits = list(torch.split(self.logits(h), self.spec.categorical, dim=1)) if self.logits is not None else []
        return Posterior(mean, log_var, logits)


class UpsampledConvTranspose(nn.ConvTranspose2d):
    """2x nearest-neighbour upsampling, then a 3x3 transposed convolution (stride 1, padding 1).

    Computed at the input's resolution: after the upsampling, each output pixel's row and column
    parity fix which input pixel each of the 3x3 taps reads, so each of the four parities is a 3x3
    convolution of the input with some taps summed. One convolution makes the four as channels and a
    pixel shuffle interleaves them. The same function as nn.Upsample(scale_factor=2) followed by
    nn.ConvTranspose2d(in_channels, out_channels, 3, padding=1) (tests/test_vae.py), with the same
    parameters, without the 4x larger upsampled tensor."""

    # TAPS[parity, offset + 1, tap] = 1 where a 3x3 convolution's tap (0, 1, 2) reads the input row
    # `offset` (-1, 0, +1) away, at an output row of that parity, after 2x nearest upsampling
    TAPS = torch.tensor([[[float((parity + tap - 1) // 2 == offset - 1) for tap in range(3)] for offset in range(3)]
                         for parity in range(2)])

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        conv_weight = self.weight.transpose(0, 1).flip(2, 3)  # the transposed convolution as a convolution
        taps = self.TAPS.to(conv_weight)
        weight = torch.einsum("yau,xbv,oiuv->oyxiab", taps, taps, conv_weight).flatten(0, 2)  # (out * 4, in, 3, 3)
        return F.pixel_shuffle(F.conv2d(h, weight, self.bias.repeat_interleave(4), padding=1), 2)


class Decoder(nn.Module):
    """The same for every kind: a linear layer, then two transposed convolutions with an upsampling
    (unpooling) step before each; returns pixel logits (N, 3, 28, 28)."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        c1, c2 = config.channels
        self.net = nn.Sequential(
            nn.Linear(config.spec.size, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
            UpsampledConvTranspose(c2, c1), nn.ReLU(),  # 7 -> 14
            UpsampledConvTranspose(c1, 3),  # 14 -> 28
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.net[:3](z)  # (N, c2, 7, 7)
        if self.net[3].weight.is_contiguous(memory_format=torch.channels_last):  # a model in channels_last:
            h = h.contiguous(memory_format=torch.channels_last)  # its convolutions want NHWC features
        return self.net[3:](h)


class VAE(nn.Module):
    """Encoder + reparameterisation + Decoder. Images are float (N, 3, 28, 28) in [0, 1]."""

    kind = "vae"

    def __init__(self, config: VAEConfig = VAEConfig()):
        super().__init__()
        self.config = config
        self.spec = config.spec
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def encode(self, x: torch.Tensor) -> Posterior:
        """The posterior parameters of q(z|x)."""
        return self.encoder(x)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic z (N, D): the Gaussian mean and the argmax one-hot of each categorical."""
        return self.posterior_mode(self.encode(x))

    @staticmethod
    def posterior_mode(post: Posterior) -> torch.Tensor:
        """The deterministic z of posterior parameters: the mean and the argmax one-hots."""
        return torch.cat([post.mean, *[F.one_hot(l.argmax(1), l.shape[1]).to(l.dtype) for l in post.logits]], 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, 28, 28) in [0, 1] for latent codes z (N, D)."""
        return torch.sigmoid(self.decoder(z))

    def sample_latent(self, post: Posterior, temperature: float, hard: bool = False) -> torch.Tensor:
        """z ~ q(z|x): mean + sigma * eps for the Gaussian part; Gumbel-softmax at `temperature` for each
        categorical (hard: an exact one-hot sample, whose gradient is the relaxed sample's: straight-through)."""
        eps = torch.randn_like(post.mean)
        codes = [F.gumbel_softmax(run, tau=temperature, hard=hard).flatten(1) for run in same_size_runs(post.logits)]
        return torch.cat([post.mean + torch.exp(0.5 * post.log_var) * eps, *codes], 1)

    def forward(self, x: torch.Tensor, temperature: float = 0.67) -> tuple[torch.Tensor, Posterior]:
        """Training pass: pixel logits of the reconstruction from a reparameterised sample, and q(z|x)."""
        post = self.encode(x)
        return self.decoder(self.sample_latent(post, temperature)), post

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of z from the prior, N(0, I) for the continuous part and uniform categories: (n, spec.size),
        the continuous values then one one-hot block per categorical variable, on the model's device."""
        device = next(self.parameters()).device
        cont = torch.randn(n, self.spec.continuous, generator=generator).to(device)
        codes = [F.one_hot(torch.randint(k, (n,), generator=generator), k).float().to(device)
                 for k in self.spec.categorical]
        return torch.cat([cont, *codes], 1)


# ----------------------------------------------------------------------------- the ELBO's terms


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) under a Bernoulli likelihood per pixel, summed over pixels: (N,) in nats."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_gaussian(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)) per dimension: (N, D) in nats."""
    mean, log_var = mean.float(), log_var.float()
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)


def same_size_runs(logits: list[torch.Tensor]) -> list[torch.Tensor]:
    """The categorical variables' logits (N, K_i), consecutive variables with the same number of
    categories stacked: one (N, V, K) tensor per run (one run in the discrete and joint presets, none in the
    continuous), so that a run's samples, softmaxes and KLs are one operation each, not V."""
    return [torch.stack(list(run), 1) for _, run in itertools.groupby(logits, key=lambda l: l.shape[-1])]


def kl_categorical(logits: torch.Tensor) -> torch.Tensor:
    """KL(Cat(softmax(logits)) || uniform) of categorical variables, logits (..., K): (...) in nats."""
    log_q = F.log_softmax(logits.float(), dim=-1)
    return (log_q.exp() * log_q).sum(-1) + math.log(logits.shape[-1])


def kl_terms(post: Posterior) -> tuple[torch.Tensor, torch.Tensor]:
    """The KL of the continuous part and of all categorical variables together, each (N,)."""
    kl_cont = kl_gaussian(post.mean, post.log_var).sum(1)
    kl_disc = sum((kl_categorical(run).sum(1) for run in same_size_runs(post.logits)), torch.zeros_like(kl_cont))
    return kl_cont, kl_disc


# ----------------------------------------------------------------------------- likelihood


@torch.no_grad()
def importance_log_weights(model: VAE, x: torch.Tensor, samples: int = 500, chunk: int = 100,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """log p(x|z_k) p(z_k) / q(z_k|x) for `samples` draws z_k ~ q(z|x) of each image x (N, 3, 28, 28) in [0, 1]:
    the Gaussian part against N(0, I), each categorical variable's exact one-hot sample against the uniform
    prior. float64 (samples, N) in nats; their mean over draws estimates the ELBO, and iwae_bound is their
    log-mean-exp. Draws are decoded `chunk` at a time."""
    post = model.encode(x)
    n, std = len(x), torch.exp(0.5 * post.log_var)
    log_weights = []
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        eps = torch.randn(k, *post.mean.shape, generator=generator)
        z_cont = post.mean + std * eps  # (k, N, continuous)
        log_ratio = (torch.distributions.Normal(0.0, 1.0).log_prob(z_cont)
                     - torch.distributions.Normal(post.mean, std).log_prob(z_cont)).sum(-1).double()
        codes = []
        for logits in post.logits:
            log_q = F.log_softmax(logits.float(), dim=-1)
            category = torch.multinomial(log_q.exp(), k, replacement=True, generator=generator).T  # (k, N)
            log_ratio -= (log_q.gather(1, category.T).T + math.log(logits.shape[-1])).double()
            codes.append(F.one_hot(category, logits.shape[-1]).float())
        z = torch.cat([z_cont, *codes], -1).flatten(0, 1)  # (k * N, D)
        log_px = -reconstruction_nll(model.decoder(z), x.repeat(k, 1, 1, 1)).view(k, n).double()
        log_weights.append(log_px + log_ratio)
    return torch.cat(log_weights)


def iwae_bound(model: VAE, x: torch.Tensor, samples: int = 500, chunk: int = 100,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """The importance-weighted bound on log p(x) (Burda, Grosse & Salakhutdinov, "Importance Weighted
    Autoencoders", ICLR 2016, eq. 8) of each image x (N, 3, 28, 28) in [0, 1], with `samples` draws
    z_k ~ q(z|x) (importance_log_weights): log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x). float64 (N,) in nats;
    K = 1 is one draw of the ELBO, and the bound tightens towards log p(x) as K grows."""
    return torch.logsumexp(importance_log_weights(model, x, samples, chunk, generator), 0) - math.log(samples)


def active_units(means: torch.Tensor, threshold: float = 0.01) -> int:
    """The continuous dimensions whose posterior mean varies over the data (Burda et al. 2016, section 5.2):
    Var_x E_q[z_u | x] > threshold (0.01 there), for means (N, continuous) over the test images."""
    return int((means.double().var(dim=0) > threshold).sum())
