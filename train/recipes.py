"""What each model's training step computes, for the engine (train/engine.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.classifier import Classifier, ClassifierConfig
from explorer.cyclegan import CycleGAN, CycleGANConfig, Discriminator, HistoryPool, color_planes, init_weights
from explorer.data import any_colors, hue_to_rgb
from explorer.images import grid_picture
from explorer.vae import VAE, Posterior, VAEConfig, kl_categorical, kl_terms, reconstruction_nll, same_size_runs


def cosine_lr(step: int, total_steps: int, peak: float, warmup: int = 100) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero at total_steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def random_affine(images: torch.Tensor, degrees: float = 10, scale: float = 0.1, shift_px: float = 2,
                  shear: float = 0.0) -> torch.Tensor:
    """Each image rotated, scaled, sheared (x += shear * y) and shifted by a small random amount
    (bilinear, black fill)."""
    n = len(images)
    angle = (torch.rand(n, device=images.device) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(n, device=images.device) * 2 - 1) * scale
    slant = (torch.rand(n, device=images.device) * 2 - 1) * shear if shear else torch.zeros(n, device=images.device)
    shift = (torch.rand(n, 2, device=images.device) * 2 - 1) * shift_px * 2 / images.shape[-1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin + slant * cos, shift[:, 0]], 1),
                         torch.stack([sin, cos + slant * sin, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


def recolor(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each digit (N, 3, H, W) in [0, 1] repainted in a new color (explorer.data.any_colors; labels (N,)
    choose the palette colors): its stroke's intensity (its brightest channel, scaled to a peak of 1)
    times the color."""
    intensity = images.amax(1, keepdim=True)
    intensity = intensity / intensity.amax((2, 3), keepdim=True).clamp_min(1e-6)
    return intensity * any_colors(labels.cpu()).to(images)[:, :, None, None]


def dilate(images: torch.Tensor) -> torch.Tensor:
    """Each pixel replaced by the maximum of its 3x3 neighbourhood, for images >= 0: the same values as
    F.max_pool2d(images, 3, 1, 1), 10x faster here as two passes of shifted maxima."""
    padded = F.pad(images, (1, 1, 1, 1))  # zeros: no pixel is below them
    rows = torch.maximum(torch.maximum(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])
    return torch.maximum(torch.maximum(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def random_thickness(images: torch.Tensor, max_weight: float = 1.0) -> torch.Tensor:
    """Each image's strokes thickened by a random amount: blended with its 3x3 dilation, the
    dilation's weight uniform in [0, max_weight]."""
    if not max_weight:
        return images
    weight = torch.rand(len(images), 1, 1, 1, device=images.device, dtype=images.dtype) * max_weight
    return torch.lerp(images, dilate(images), weight)


def nearest_neighbors(images: torch.Tensor, k: int, dims: int = 50, chunk: int = 2048) -> torch.Tensor:
    """Each image's k nearest other images, (N, k) indices, by Euclidean distance between the images'
    first `dims` principal components. In MNIST a digit's nearest neighbours mostly show the same digit
    (the first one in 97.8% of the training set, the first ten in 95.7%)."""
    x = images.reshape(len(images), -1).float()
    x = x - x.mean(0)
    features = x @ torch.linalg.eigh(x.T @ x).eigenvectors[:, -dims:]  # exact PCA: the same neighbours in every run
    squared = (features * features).sum(1)
    neighbors = []
    for start in range(0, len(features), chunk):
        block = features[start:start + chunk]
        distances = torch.addmm(squared, block, features.T, alpha=-2)  # |a - b|^2 less |a|^2, the same order
        distances[torch.arange(len(block)), torch.arange(start, start + len(block))] = math.inf  # not itself
        neighbors.append(distances.topk(k, largest=False).indices)
    return torch.cat(neighbors)


class WithNeighbors(torch.utils.data.Dataset):
    """A data set whose batches also hold, for each image, one of its k nearest neighbours drawn at
    random (the second view of the VAE's consistency term)."""

    def __init__(self, dataset, neighbors: torch.Tensor):
        self.dataset, self.neighbors = dataset, neighbors
        self.coloring = dataset.coloring

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices):
        indices = torch.as_tensor(indices)
        drawn = self.neighbors[indices, torch.randint(self.neighbors.shape[1], indices.shape)]
        return (*self.dataset[indices], self.dataset[drawn][0])


def random_blur(images: torch.Tensor, max_sigma: float = 1.2, size: int = 5) -> torch.Tensor:
    """Each image blurred by a Gaussian of random width (sigma uniform in [0, max_sigma] pixels)."""
    n, c, h, w = images.shape
    sigma = torch.rand(n, 1, device=images.device) * max_sigma + 1e-3
    offsets = torch.arange(size, device=images.device, dtype=images.dtype) - size // 2
    kernel_1d = torch.exp(-offsets**2 / (2 * sigma**2))
    kernel_1d = kernel_1d / kernel_1d.sum(1, keepdim=True)  # (n, size)
    kernel = (kernel_1d[:, :, None] * kernel_1d[:, None, :]).repeat_interleave(c, 0)[:, None]  # (n*c, 1, k, k)
    blurred = F.conv2d(images.reshape(1, n * c, h, w), kernel.to(images.dtype), padding=size // 2, groups=n * c)
    return blurred.reshape(n, c, h, w)


class ClassifierRecipe:
    """Cross-entropy on randomly transformed digits; AdamW with warm-up and cosine decay.

    Besides small rotations, scalings and shifts, the digits are randomly blurred and dimmed: the
    classifier judges generated images, which are softer than real ones."""

    def __init__(self, device: torch.device, config: ClassifierConfig, lr: float = 3e-3, weight_decay: float = 1e-4):
        self.model = Classifier(config).to(device)
        self.net = self.model
        self.peak_lr = lr
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.parts = {"model": self.model}
        self.optimizers = {"model": self.optimizer}

    def distribute(self, wrap) -> None:
        self.net = wrap(self.model)

    def train_step(self, batch, step, total_steps):
        images, labels = batch
        set_lr(self.optimizer, cosine_lr(step, total_steps, self.peak_lr))
        self.model.train()
        dim = 0.5 + 0.5 * torch.rand(len(images), 1, 1, 1, device=images.device)
        logits = self.net(random_blur(random_affine(images)) * dim)
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == labels).float().mean()}

    def sample_grid(self):
        return None


AGREEMENTS = ("mi", "dot")  # how the consistency term measures that two views' codes agree


@dataclass
class VAEObjective:
    """The training objective: beta-VAE for the continuous kind; JointVAE's capacity-controlled
    gamma * |KL - C| per latent part for the discrete and joint kinds, C rising linearly. Two optional
    terms shape the categorical code: `balance` (every category used equally often over a batch) and
    `consistency` (the first code agrees between a digit and a second view: a distorted copy of it or
    of one of its nearest neighbours; measured by IIC's mutual information or SCAN's log <p, q>)."""

    beta: float = 1.0
    gamma: float = 30.0
    capacity_continuous: float = 5.0  # nats reached by C_z
    capacity_discrete: float = 2.3  # nats reached by C_c (at most the sum of log K_i)
    capacity_ramp: float = 0.6  # fraction of training at which C reaches its maximum ...
    capacity_ramp_discrete: float = 0.6  # ... for the continuous and the discrete part
    capacity_delay: float = 0.0  # fraction of training before the continuous capacity starts rising
    temperature_start: float = 0.67  # Gumbel-softmax temperature, annealed exponentially ...
    temperature_end: float = 0.67  # ... to this value at the end of training
    balance: float = 0.0  # weight (x gamma) of KL(batch-mean q(c) || uniform) per categorical variable
    consistency: float = 0.0  # weight of the first code's agreement between a digit and its second view:
    agreement: str = "mi"  # "mi" (IIC's mutual information of the two codes) or "dot" (SCAN's log <p, q>)
    shear: float = 0.0  # the second view's random shear (x += s * y, s up to this) ...
    thicken: float = 0.0  # ... and stroke thickening (random_thickness's max_weight)
    neighbors: int = 0  # the second view: 0 = the digit itself, distorted; k = one of its k nearest training digits, distorted
    code_detach: float = 0.0  # fraction of training during which the reconstruction's gradient does not reach the code
    recolor: float = 0.0  # 1: the second view is also repainted in a new color (recolor): the code cannot be the color
    free_bits: float = 0.0  # 1: the continuous KL is free up to C_z, gamma per nat above (free bits); 0: gamma |KL - C_z|
    free_bits_discrete: float = 0.0  # the same for the categorical KL and C_c
    straight_through: float = 0.0  # 1: the decoder gets one-hot codes (straight-through Gumbel-softmax), as at test time
    code_cycle: float = 0.0  # weight of -log q(c' | decode(z with the first code set to a random c')) (InfoGAN's term)

    def capacities(self, step: int, total_steps: int, spec) -> tuple[float, float]:
        """The capacities (C_z, C_c) in nats that the continuous and the discrete KL are held near at
        this step (JointVAE, Dupont 2018, eq. 7); C_c reaches at most the sum of log K_i of the
        latent spec's categorical variables."""
        most_discrete = min(self.capacity_discrete, sum(math.log(k) for k in spec.categorical))
        return (capacity_at(step, total_steps, self.capacity_continuous, self.capacity_ramp, self.capacity_delay),
                capacity_at(step, total_steps, most_discrete, self.capacity_ramp_discrete))


def temperature_at(step: int, total_steps: int, start: float, end: float) -> float:
    """Exponential annealing of the Gumbel-softmax temperature from start to end over training."""
    return start * (end / start) ** min(1.0, step / max(1, total_steps))


def capacity_at(step: int, total_steps: int, capacity: float, ramp: float, delay: float = 0.0) -> float:
    """The capacity C: 0 for the first `delay` of training, then rising linearly to `capacity` nats at
    the fraction `ramp` of training."""
    progress = (step / max(1, total_steps) - delay) / max(1e-9, ramp - delay)
    return capacity * min(1.0, max(0.0, progress))


def capacity_penalty(excess: torch.Tensor, free_bits: float) -> torch.Tensor:
    """JointVAE's |KL - C| (Dupont 2018), or with free bits (Kingma et al. 2016) only the part of the KL above
    C: max(KL - C, 0). `excess` is KL - C in nats."""
    return excess.clamp_min(0) if free_bits else excess.abs()


def mutual_information(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """I(c; c') of the joint distribution of two views' categorical posteriors p, q (N, K), as in IIC:
    high when each view's code is confident, the two agree, and all codes are used."""
    joint = p.T @ q / len(p)
    joint = ((joint + joint.T) / 2).clamp_min(1e-8)
    return (joint * (joint.log() - joint.sum(1, keepdim=True).log() - joint.sum(0, keepdim=True).log())).sum()


class VAETrainingPass(nn.Module):
    """One training forward pass of a VAE (the module DistributedDataParallel wraps): the reconstruction
    logits from a reparameterised sample, q(z|x), and the first categorical's logits for a second view."""

    def __init__(self, vae: VAE):
        super().__init__()
        self.vae = vae

    def forward(self, x, temperature: float, second_view=None, detach_code: bool = False, hard: bool = False,
                cycle_codes=None):
        """detach_code: the decoder gets a sample of the codes whose logits are cut from the graph, so the
        reconstruction trains the decoder's use of the code but not the code itself. hard: one-hot samples
        of the codes, with the relaxed sample's gradient (straight-through Gumbel-softmax, Jang et al. 2017).
        cycle_codes (N,): also decode each digit's posterior mode (cut from the graph) with its first code set
        to these, and return the first categorical's logits of those images' encodings (else None)."""
        n = len(x)
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        if second_view is not None:  # both views in one encoder pass, in x's memory format (grid_sample gives NCHW)
            x = torch.cat([x, second_view.contiguous(memory_format=layout)])
        encoded = self.vae.encode(x)
        post = Posterior(encoded.mean[:n], encoded.log_var[:n], [l[:n] for l in encoded.logits])
        sampled = post._replace(logits=[l.detach() for l in post.logits]) if detach_code else post
        logits = self.vae.decoder(self.vae.sample_latent(sampled, temperature, hard))
        view_logits = encoded.logits[0][n:] if second_view is not None else None
        cycle_logits = None
        if cycle_codes is not None:
            z = self.vae.posterior_mode(post).detach()
            start, k = self.vae.spec.continuous, self.vae.spec.categorical[0]
            z = torch.cat([z[:, :start], F.one_hot(cycle_codes, k).to(z.dtype), z[:, start + k:]], 1)
            decoded = self.vae.decode(z).contiguous(memory_format=layout)  # pixel_shuffle gives NCHW
            cycle_logits = self.vae.encode(decoded).logits[0]
        return logits, post, view_logits, cycle_logits


class VAERecipe:
    """The negative ELBO with the objective's KL terms (plus, if asked, the code's mutual information
    between two augmented views); Adam with warm-up and cosine decay."""

    def __init__(self, device, config: VAEConfig, objective: VAEObjective, preview: torch.Tensor, lr: float = 1e-3):
        self.model = VAE(config).to(device)
        self.net = VAETrainingPass(self.model)
        self.objective, self.peak_lr = objective, lr
        self.preview = preview.to(device)  # a few real digits for the sample grids
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.parts = {"model": self.model}
        self.optimizers = {"model": self.optimizer}
        self.consistency = objective.consistency if config.spec.categorical else 0.0

    def distribute(self, wrap) -> None:
        self.net = wrap(self.net)

    def train_step(self, batch, step, total_steps):
        images, labels, *neighbor = batch
        obj = self.objective
        set_lr(self.optimizer, cosine_lr(step, total_steps, self.peak_lr))
        temperature = temperature_at(step, total_steps, obj.temperature_start, obj.temperature_end)
        self.model.train()
        second_view = None
        if self.consistency:  # a distorted copy of each digit, or of one of its nearest neighbours
            view = neighbor[0] if neighbor else images
            view = recolor(view, labels) if obj.recolor else view
            second_view = random_affine(random_thickness(view, obj.thicken), 15, 0.1, 2, obj.shear)
        cycle_codes = None
        if obj.code_cycle and self.model.spec.categorical:  # a random code for each digit
            cycle_codes = torch.randint(self.model.spec.categorical[0], (len(images),), device=images.device)
        logits, post, view_logits, cycle_logits = self.net(images, temperature, second_view,
                                                           step < obj.code_detach * total_steps,
                                                           bool(obj.straight_through), cycle_codes)
        nll = reconstruction_nll(logits, images).mean()
        kl_cont, kl_disc = (kl.mean() for kl in kl_terms(post))
        if self.model.spec.kind == "continuous":
            loss = nll + obj.beta * kl_cont
        else:  # JointVAE: each part's KL held near a capacity that rises during training
            c_cont, c_disc = obj.capacities(step, total_steps, self.model.spec)
            # free bits: no reward for a KL below C, which a constant mean or category would earn
            loss = nll + obj.gamma * capacity_penalty(kl_disc - c_disc, obj.free_bits_discrete)
            if self.model.spec.continuous:
                loss = loss + obj.gamma * capacity_penalty(kl_cont - c_cont, obj.free_bits)
        losses = {}
        if obj.balance and post.logits:  # every category used equally over the batch: no collapsed code
            usage = sum(kl_categorical(F.softmax(run.float(), -1).mean(0, keepdim=True).log()).sum(1)
                        for run in same_size_runs(post.logits))
            loss = loss + obj.gamma * obj.balance * usage.mean()
            losses["usage_kl"] = usage.detach().mean()
        if cycle_codes is not None:  # InfoGAN's mutual-information term (Chen et al. 2016): the code decides the digit drawn
            cycle = F.cross_entropy(cycle_logits.float(), cycle_codes)
            loss = loss + obj.code_cycle * cycle
            losses["code_cycle"] = cycle.detach()
        if self.consistency:
            p, q = F.softmax(post.logits[0].float(), 1), F.softmax(view_logits.float(), 1)
            mi = mutual_information(p, q)  # logged either way: how much of the code the two views share
            agreement = mi if obj.agreement == "mi" else (p * q).sum(1).clamp_min(1e-8).log().mean()
            loss = loss - self.consistency * agreement
            losses["code_mi"] = mi.detach()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "neg_elbo": (nll + kl_cont + kl_disc).detach(), "nll": nll.detach(),
                "kl_cont": kl_cont.detach(), "kl_disc": kl_disc.detach(), "temperature": temperature, **losses}

    def sample_grid(self):
        rows = vae_samples(self.model.eval(), self.preview)
        return grid_picture(torch.cat(list(rows.values())), columns=len(self.preview))


@torch.no_grad()
def vae_samples(model: VAE, preview: torch.Tensor) -> dict[str, torch.Tensor]:
    """A VAE's sample grid, row by row ({label: images (n, 3, 28, 28) in [0, 1]}): the preview digits
    (n, 3, 28, 28), their reconstructions, then two rows of prior draws (seed 0; for a model with a
    categorical variable: one draw per row, with the first variable's categories in turn)."""
    n = len(preview)
    z = model.prior_sample(2 * n, torch.Generator().manual_seed(0))
    if model.spec.categorical:
        k = model.spec.categorical[0]
        start = model.spec.continuous
        z = z[[0] * n + [n] * n]  # one draw per row
        z[:, start:start + k] = F.one_hot(torch.arange(2 * n) % k, k).float()
    draws = model.decode(z)
    each_code = f", code 0-{model.spec.categorical[0] - 1}" if model.spec.categorical else ""
    return {"test digits": preview, "reconstructions": model.decode(model.latent(preview)),
            f"a prior draw{each_code}": draws[:n], f"another prior draw{each_code}": draws[n:]}


class CycleGANTrainingPass(nn.Module):
    """The generators' forward pass (the module DistributedDataParallel wraps): translations, cycle
    reconstructions and identity mappings of a gray batch a and a colored batch b. `asked`: the colors
    a is painted in, `own`: b's colors (both used by a hue-conditioned model only)."""

    def __init__(self, model: CycleGAN):
        super().__init__()
        self.model = model

    def forward(self, a, b, asked, own):
        if not self.model.config.hue_conditioned:
            asked = own = None
        both = None if own is None else torch.cat([asked, own])
        # one batch per generator (the norms are per image): to_color(a) and to_color(b), to_gray(b) and to_gray(a)
        fake_b, same_b = self.model.to_color(torch.cat([a, b]), both).chunk(2)
        fake_a, same_a = self.model.to_gray(torch.cat([b, a])).chunk(2)
        return fake_b, fake_a, self.model.to_gray(fake_b), self.model.to_color(fake_a, own), same_b, same_a


def linear_decay_lr(step: int, total_steps: int, peak: float) -> float:
    """Constant for the first half of training, then linearly down to zero."""
    return peak * min(1.0, 2 * (1 - step / max(1, total_steps)))


class CycleGANRecipe:
    """Least-squares GAN losses, cycle L1 (weight 10) and identity L1 (weight 5); discriminators see a
    history pool of fakes; Adam (0.5, 0.999), constant then linear decay.

    Hue-conditioned: each gray digit is painted in a random asked hue; the color discriminator judges
    (image, color) pairs: real digits with their own color are real, fakes with their asked color and
    real digits with another digit's color are fake (the matching-aware loss of GAN-CLS). A chroma
    term (weight `color_weight`) asks the painted strokes to have the asked color's chromaticity.
    Without it the generator ignored the ask and hid b's color in to_gray(b) to close the cycle
    (every digit came out green after one epoch); an L1 to brightness x asked color instead let it
    paint everything black."""

    def __init__(self, device, config: CycleGANConfig, preview: tuple[torch.Tensor, torch.Tensor], lr: float = 2e-4,
                 cycle_weight: float = 10.0, identity_weight: float = 5.0, pool_size: int = 50,
                 color_weight: float = 10.0):
        self.model = CycleGAN(config).to(device)
        self.conditioned = config.hue_conditioned
        self.disc_color = Discriminator(config, in_channels=6 if self.conditioned else 3).to(device)
        self.disc_gray = Discriminator(config).to(device)
        for module in (self.model, self.disc_color, self.disc_gray):
            module.apply(init_weights)
        self.net, self.disc_color_net, self.disc_gray_net = CycleGANTrainingPass(self.model), self.disc_color, self.disc_gray
        self.preview = tuple(x.to(device) for x in preview)
        self.peak_lr, self.cycle_weight, self.identity_weight = lr, cycle_weight, identity_weight
        self.color_weight = color_weight if self.conditioned else 0.0
        self.g_optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.5, 0.999), fused=True)  # one kernel: 3% of the step
        self.d_optimizer = torch.optim.Adam([*self.disc_color.parameters(), *self.disc_gray.parameters()],
                                            lr=lr, betas=(0.5, 0.999), fused=True)
        self.pool_color, self.pool_gray = HistoryPool(pool_size), HistoryPool(pool_size)
        self.parts = {"generators": self.model, "disc_color": self.disc_color, "disc_gray": self.disc_gray}
        self.optimizers = {"generators": self.g_optimizer, "discriminators": self.d_optimizer}

    def distribute(self, wrap) -> None:
        self.net, self.disc_color_net, self.disc_gray_net = wrap(self.net), wrap(self.disc_color), wrap(self.disc_gray)

    def judged(self, images: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
        """What the color discriminator sees: the images, with their color planes if hue-conditioned."""
        return torch.cat([images, color_planes(color, images)], dim=1) if self.conditioned else images

    def train_step(self, batch, step, total_steps):
        a, b, own = batch
        asked = hue_to_rgb(torch.rand(len(a), device=a.device)) if self.conditioned else own
        for optimizer in self.optimizers.values():
            set_lr(optimizer, linear_decay_lr(step, total_steps, self.peak_lr))
        self.model.train()
        fake_b, fake_a, cycled_a, cycled_b, same_b, same_a = self.net(a, b, asked, own)
        # generators: fool the discriminators (which are not updated here), close both cycles, keep identities
        for disc in (self.disc_color, self.disc_gray):
            disc.requires_grad_(False)
        adversarial = (least_squares(self.disc_color(self.judged(fake_b, asked)), 1.0)
                       + least_squares(self.disc_gray(fake_a), 1.0))
        cycle = F.l1_loss(cycled_a, a) + F.l1_loss(cycled_b, b)
        identity = F.l1_loss(same_b, b) + F.l1_loss(same_a, a)
        color = chroma_error(fake_b, asked, weight=a.amax(1)) if self.conditioned else torch.zeros((), device=a.device)
        g_loss = adversarial + self.cycle_weight * cycle + self.identity_weight * identity + self.color_weight * color
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        # discriminators, one batch each: real -> 1, fake (from the history pool) -> 0
        for disc in (self.disc_color, self.disc_gray):
            disc.requires_grad_(True)
        judged = [self.judged(b, own), self.pool_color.query(self.judged(fake_b, asked))]
        if self.conditioned:
            judged.append(self.judged(b, own.roll(1, 0)))  # real digits in another digit's color
        real_color, *fake_color = self.disc_color_net(torch.cat(judged)).chunk(len(judged))
        real_gray, fake_gray = self.disc_gray_net(torch.cat([a, self.pool_gray.query(fake_a)])).chunk(2)
        d_color = 0.5 * (least_squares(real_color, 1.0) + sum(least_squares(s, 0.0) for s in fake_color) / len(fake_color))
        d_gray = 0.5 * (least_squares(real_gray, 1.0) + least_squares(fake_gray, 0.0))
        self.d_optimizer.zero_grad(set_to_none=True)
        (d_color + d_gray).backward()
        self.d_optimizer.step()
        return {"g_adv": adversarial.detach(), "cycle": cycle.detach() / 2, "identity": identity.detach() / 2,
                **({"color": color.detach()} if self.conditioned else {}),
                "d_color": d_color.detach(), "d_gray": d_gray.detach()}

    def sample_grid(self):
        gray, colored, _ = self.preview
        rows = cyclegan_samples(self.model.eval(), gray, colored)
        return grid_picture(torch.cat(list(rows.values())), columns=len(gray))


def chroma_error(images: torch.Tensor, color: torch.Tensor, weight: torch.Tensor, floor: float = 0.05) -> torch.Tensor:
    """Mean over stroke pixels (weighted by `weight`, (N, H, W)) of the L1 distance between each pixel's
    chromaticity, rgb / max(rgb), and the asked color (N, 3) at full value. Brightness does not count,
    but a dark pixel (max below `floor`) has no color and counts as wrong."""
    chromaticity = images / images.amax(1, keepdim=True).clamp_min(floor)
    distance = (chromaticity - color_planes(color, images)).abs().sum(1)
    return (distance * weight).sum() / weight.sum().clamp_min(1e-6)


def least_squares(scores: torch.Tensor, target: float) -> torch.Tensor:
    """The least-squares GAN loss: mean squared distance of the scores from the target label."""
    return (scores.float() - target).pow(2).mean()


@torch.no_grad()
def cyclegan_samples(model: CycleGAN, gray: torch.Tensor, colored: torch.Tensor) -> dict[str, torch.Tensor]:
    """A CycleGAN's sample grid, row by row ({label: images (n, 3, 28, 28) in [0, 1]}): gray digits,
    their colored translations (hue-conditioned: in hues spread evenly over the circle), colored
    digits, their gray translations."""
    hue_conditioned = model.config.hue_conditioned
    asked = hue_to_rgb(torch.arange(len(gray), device=gray.device) / len(gray)) if hue_conditioned else None
    return {"gray digits": gray, "to color" + (" (hues asked)" if hue_conditioned else ""): model.to_color(gray, asked),
            "colored digits": colored, "to gray": model.to_gray(colored)}
