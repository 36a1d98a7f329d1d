"""What each model's training step computes, for the engine (train/engine.py)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from explorer.classifier import Classifier, ClassifierConfig


def cosine_lr(step: int, total_steps: int, peak: float, warmup: int = 100) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero at total_steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def random_affine(images: torch.Tensor, degrees: float = 10, scale: float = 0.1, shift_px: float = 2) -> torch.Tensor:
    """Each image rotated, scaled and shifted by a small random amount (bilinear, black fill)."""
    n = len(images)
    angle = (torch.rand(n, device=images.device) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(n, device=images.device) * 2 - 1) * scale
    shift = (torch.rand(n, 2, device=images.device) * 2 - 1) * shift_px * 2 / images.shape[-1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


class ClassifierRecipe:
    """Cross-entropy on randomly transformed digits; AdamW with warm-up and cosine decay."""

    def __init__(self, device: torch.device, config: ClassifierConfig, lr: float = 3e-3, weight_decay: float = 1e-4):
        self.model = Classifier(config).to(device)
        self.net = self.model
        self.peak_lr = lr
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.parts = {"model": self.model}
        self.optimizers = {"model": self.optimizer}

    def distribute(self, wrap) -> None:
        self.net = wrap(self.model)

    def train_step(self, images, labels, step, total_steps):
        set_lr(self.optimizer, cosine_lr(step, total_steps, self.peak_lr))
        self.model.train()
        logits = self.net(random_affine(images))
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == labels).float().mean()}

    def sample_grid(self):
        return None
