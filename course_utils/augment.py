"""Data augmentation as layers: random, per-sample, batched transforms that act in training mode only.

The training engine takes a fixed dataset, so augmentation goes *into the
model*: ``nn.Sequential(RandomShift(3), build_model(config, ...))``. Like
dropout, every layer here transforms its input only while the model is in
training mode and is the identity in eval mode, so ``fit`` trains on fresh
random variants of each batch and every evaluation sees the clean data. ``with_augmentation(layer)`` builds
such a model for every run of ``cu.sweep``.

Each layer draws one random transform per sample, all at once from the
global torch random stream (which ``fit`` seeds), with no Python loop over
the batch. ``layer.transform(x, generator)`` draws from a generator of its
own instead: that is how a batched sweep gives each member the draws ``fit``
would (``can_transform`` says which layers allow it). Sequences are (batch,
length) or (batch, 1, length); images are flattened rows (batch, height·width)
or (batch, 1, height, width).

CutMix changes the labels as well as the inputs, so it is no layer: ``cutmix``
takes a batch and its labels and returns the labels' weights, like mixup, for
a training loop that blends its losses.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import Config
from .models import GaussianNoise, build_model
from .validation import check_choice, check_number, check_positive_int

__all__ = ["Compose", "Cutout", "GaussianNoise", "RandomFlip", "RandomRotation", "RandomScale", "RandomShift",
           "RandomImageShift", "WithAugmentation", "affine_images", "box_masks", "can_transform", "cut_and_paste",
           "cutmix", "flip_images", "random_boxes", "shift", "with_augmentation"]

SHIFT_MODES = ("circular", "zeros")


def _check_tensor(x, name: str = "x", min_ndim: int = 2) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have a batch axis and at least {min_ndim - 1} more; got shape "
                         f"{tuple(x.shape)}")
    return x


def _check_probability(p, name: str = "p") -> float:
    return check_number(p, name, low=0.0, high=1.0)


def _chosen(batch: int, p: float, generator: torch.Generator | None) -> torch.Tensor | None:
    """A (batch,) bool mask of the samples to transform, or None when every sample is (p = 1)."""
    return None if p >= 1 else torch.rand(batch, generator=generator) < p


class _RandomTransform(nn.Module):
    """A layer that applies ``transform`` in training mode and is the identity in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(x) if self.training else x

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One random variant of every sample, drawn from ``generator`` (default: the global stream)."""
        raise NotImplementedError


# ------------------------------------------------------------------ sequences

def shift(x: torch.Tensor, shifts: torch.Tensor, mode: str = "circular") -> torch.Tensor:
    """Move each sample along its last axis by its own integer ``shifts[i]``: right if positive.

    ``out[i, ..., j] = x[i, ..., j - shifts[i]]``, as ``torch.roll`` does for
    one sample. ``mode="circular"`` wraps what leaves one end around to the
    other; ``mode="zeros"`` drops it and fills the vacated positions with 0.
    """
    _check_tensor(x)
    check_choice(mode, "mode", SHIFT_MODES)
    if not isinstance(shifts, torch.Tensor) or shifts.shape != (len(x),) or shifts.is_floating_point():
        raise ValueError(f"shifts must be an integer tensor of shape ({len(x)},), one shift per sample; got "
                         f"{shifts!r:.80}")
    length = x.shape[-1]
    flat = x.reshape(len(x), -1, length)                                   # (B, C, L)
    source = torch.arange(length) - shifts.to(torch.int64).view(-1, 1)     # (B, L): where each output reads
    out = flat.gather(2, (source % length).unsqueeze(1).expand_as(flat))
    if mode == "zeros":
        outside = (source < 0) | (source >= length)
        out = out.masked_fill(outside.unsqueeze(1), 0.0)
    return out.reshape(x.shape)


class RandomShift(_RandomTransform):
    """Shift each sequence by its own random integer in [-max_shift, max_shift] (training mode only)."""

    def __init__(self, max_shift: int, mode: str = "circular", p: float = 1.0):
        super().__init__()
        self.max_shift = check_positive_int(max_shift, "max_shift", minimum=0)
        self.mode = check_choice(mode, "mode", SHIFT_MODES)
        self.p = _check_probability(p)

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.max_shift == 0 or self.p == 0:
            return x
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (len(x),), generator=generator)
        chosen = _chosen(len(x), self.p, generator)
        if chosen is not None:
            shifts = shifts * chosen
        return shift(x, shifts, self.mode)

    def extra_repr(self) -> str:
        return f"max_shift={self.max_shift}, mode={self.mode!r}, p={self.p}"


class RandomScale(_RandomTransform):
    """Multiply each sample by its own random factor, uniform in [low, high] (training mode only)."""

    def __init__(self, low: float = 0.8, high: float = 1.2, p: float = 1.0):
        super().__init__()
        self.low = check_number(low, "low", low=0.0, low_inclusive=False)
        self.high = check_number(high, "high", low=self.low)
        self.p = _check_probability(p)

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.p == 0 or self.low == self.high == 1.0:
            return x
        factors = self.low + (self.high - self.low) * torch.rand(len(x), generator=generator)
        chosen = _chosen(len(x), self.p, generator)
        if chosen is not None:
            factors = torch.where(chosen, factors, torch.ones(()))
        return x * factors.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}, p={self.p}"


class Compose(nn.Sequential):
    """Apply augmentation layers one after the other; train/eval mode reaches every one of them."""

    def __init__(self, *transforms: nn.Module):
        for transform in transforms:
            if not isinstance(transform, nn.Module):
                raise TypeError(f"every transform must be a torch.nn.Module; got {type(transform).__name__}")
        super().__init__(*transforms)

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Every transform's ``transform`` in turn, all drawing from ``generator``."""
        for transform in self:
            x = transform.transform(x, generator)
        return x


# ------------------------------------------------------------------ images

def _as_images(x: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
    """(B, H·W) or (B, 1, H, W) → (B, 1, H, W)."""
    height, width = image_shape
    if x.shape[1:] not in ((height * width,), (1, height, width)):
        raise ValueError(f"x must hold {height}×{width} images as (batch, {height * width}) or "
                         f"(batch, 1, {height}, {width}); got shape {tuple(x.shape)}")
    return x.reshape(len(x), 1, height, width)


def _check_image_shape(image_shape) -> tuple[int, int]:
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2:
        raise ValueError(f"image_shape must be (height, width); got {image_shape!r}")
    return (check_positive_int(image_shape[0], "image height"), check_positive_int(image_shape[1], "image width"))


def affine_images(x: torch.Tensor, image_shape: tuple[int, int], degrees: torch.Tensor | None = None,
                  shifts: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate each image by ``degrees[i]`` (anticlockwise as displayed) about its centre, then move it by
    ``shifts[i] = (down, right)`` pixels; pixels that come from outside the image are 0.

    One ``affine_grid`` + bilinear ``grid_sample`` for the whole batch. With
    ``align_corners=False`` pixel centres map onto pixel centres, so a zero
    angle and integer shifts move pixels exactly (no blur); other angles
    interpolate. The output has the input's shape.
    """
    _check_tensor(x)
    image_shape = _check_image_shape(image_shape)
    images = _as_images(x, image_shape)
    batch, (height, width) = len(x), image_shape
    degrees = torch.zeros(batch) if degrees is None else degrees
    shifts = torch.zeros(batch, 2) if shifts is None else shifts
    if not isinstance(degrees, torch.Tensor) or degrees.shape != (batch,):
        raise ValueError(f"degrees must be a tensor of shape ({batch},), one angle per image")
    if not isinstance(shifts, torch.Tensor) or shifts.shape != (batch, 2):
        raise ValueError(f"shifts must be a tensor of shape ({batch}, 2), one (down, right) shift per image")
    angle = degrees.to(torch.float32) * (math.pi / 180)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta maps each output position (u, v) in [-1, 1] (u to the right, v down) to where it reads the input.
    # Reading at R(-angle)·(u, v) rotates the picture by +angle; in (right, down) coordinates an anticlockwise
    # turn on screen is a clockwise one, hence the signs. Pixel units differ on the two axes when H ≠ W.
    aspect = height / width
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * aspect
    theta[:, 1, 0], theta[:, 1, 1] = sin / aspect, cos
    # Moving the picture right by s pixels means reading s pixels to the left: s · 2/width in [-1, 1] units.
    theta[:, 0, 2] = -shifts[:, 1].to(torch.float32) * 2 / width
    theta[:, 1, 2] = -shifts[:, 0].to(torch.float32) * 2 / height
    grid = F.affine_grid(theta.to(x.dtype), list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(x.shape)


def flip_images(x: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
    """Mirror every image left to right (a horizontal flip)."""
    _check_tensor(x)
    return _as_images(x, _check_image_shape(image_shape)).flip(-1).reshape(x.shape)


class RandomImageShift(_RandomTransform):
    """Move each image by its own random whole number of pixels, up to ``max_shift`` on each axis."""

    def __init__(self, image_shape: tuple[int, int] = (8, 8), max_shift: int = 1, p: float = 1.0):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        self.max_shift = check_positive_int(max_shift, "max_shift", minimum=0)
        self.p = _check_probability(p)

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.max_shift == 0 or self.p == 0:
            return x
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (len(x), 2), generator=generator)
        chosen = _chosen(len(x), self.p, generator)
        if chosen is not None:
            shifts = shifts * chosen.view(-1, 1)
        return affine_images(x, self.image_shape, shifts=shifts)

    def extra_repr(self) -> str:
        return f"image_shape={self.image_shape}, max_shift={self.max_shift}, p={self.p}"


class RandomRotation(_RandomTransform):
    """Rotate each image about its centre by its own random angle, uniform in ±max_degrees."""

    def __init__(self, image_shape: tuple[int, int] = (8, 8), max_degrees: float = 15.0, p: float = 1.0):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        self.max_degrees = check_number(max_degrees, "max_degrees", low=0.0, high=180.0)
        self.p = _check_probability(p)

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.max_degrees == 0 or self.p == 0:
            return x
        degrees = (2 * torch.rand(len(x), generator=generator) - 1) * self.max_degrees
        chosen = _chosen(len(x), self.p, generator)
        if chosen is not None:
            degrees = degrees * chosen
        return affine_images(x, self.image_shape, degrees=degrees)

    def extra_repr(self) -> str:
        return f"image_shape={self.image_shape}, max_degrees={self.max_degrees}, p={self.p}"


class RandomFlip(_RandomTransform):
    """Mirror each image left to right with probability ``p``. Not label-preserving for digits!"""

    def __init__(self, image_shape: tuple[int, int] = (8, 8), p: float = 0.5):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        self.p = _check_probability(p)

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.p == 0:
            return x
        chosen = torch.rand(len(x), generator=generator) < self.p
        flipped = flip_images(x, self.image_shape)
        return torch.where(chosen.view(-1, *([1] * (x.ndim - 1))), flipped, x)

    def extra_repr(self) -> str:
        return f"image_shape={self.image_shape}, p={self.p}"


def _check_side(side, name: str, n: int) -> torch.Tensor:
    """A box side as an int64 tensor of shape (n,): one whole number >= 0, or one per box."""
    if isinstance(side, torch.Tensor):
        if side.is_floating_point() or side.shape not in ((), (n,)) or bool((side < 0).any()):
            raise ValueError(f"{name} must be a whole number >= 0 or an integer tensor of shape ({n},); got "
                             f"{side!r:.80}")
        return side.to(torch.int64).expand(n)
    return torch.full((n,), check_positive_int(side, name, minimum=0), dtype=torch.int64)


def random_boxes(n: int, image_shape: tuple[int, int], height: int | torch.Tensor, width: int | torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` boxes of ``height`` × ``width`` pixels, each centred on a pixel drawn uniformly from the whole image
    and clipped at its border, as Cutout (DeVries & Taylor 2017) and CutMix (Yun et al. 2019) draw them.

    ``height`` and ``width`` are whole numbers, or int64 tensors of shape (n,) with one size per box. A box
    centred on pixel (r, c) covers rows r - height // 2 to r - height // 2 + height - 1, and likewise columns;
    near the border part of it falls outside, so it covers fewer pixels. Returns an int64 tensor (n, 4) of
    (top, bottom, left, right), bottom and right excluded: box i is ``image[top:bottom, left:right]``.
    """
    n = check_positive_int(n, "n", minimum=0)
    rows, columns = _check_image_shape(image_shape)
    height, width = _check_side(height, "height", n), _check_side(width, "width", n)
    centre_row = torch.randint(rows, (n,), generator=generator)
    centre_column = torch.randint(columns, (n,), generator=generator)
    top, left = centre_row - height // 2, centre_column - width // 2
    return torch.stack([top.clamp(0, rows), (top + height).clamp(0, rows),
                        left.clamp(0, columns), (left + width).clamp(0, columns)], dim=1)


def box_masks(boxes: torch.Tensor, image_shape: tuple[int, int]) -> torch.Tensor:
    """(n, height, width) bool masks, True inside each box (top, bottom, left, right) of ``random_boxes``."""
    rows, columns = _check_image_shape(image_shape)
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be a tensor of shape (n, 4), rows (top, bottom, left, right); got "
                         f"{boxes!r:.80}")
    top, bottom, left, right = (side.view(-1, 1, 1) for side in boxes.unbind(1))
    row, column = torch.arange(rows).view(1, -1, 1), torch.arange(columns).view(1, 1, -1)
    return (row >= top) & (row < bottom) & (column >= left) & (column < right)


class Cutout(_RandomTransform):
    """Erase a ``size`` × ``size`` square of each image (set it to 0), at its own random place (DeVries & Taylor 2017).

    The square is centred on a pixel drawn uniformly from the whole image and
    clipped at the border (``random_boxes``), so near an edge less is erased,
    as in the paper: every part of the image is sometimes hidden. With
    probability ``1 - p`` an image is left whole.
    """

    def __init__(self, image_shape: tuple[int, int] = (8, 8), size: int = 4, p: float = 1.0):
        super().__init__()
        self.image_shape = _check_image_shape(image_shape)
        self.size = check_positive_int(size, "size", minimum=0)
        self.p = _check_probability(p)

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.size == 0 or self.p == 0:
            return x
        images = _as_images(x, self.image_shape)
        erased = box_masks(random_boxes(len(x), self.image_shape, self.size, self.size, generator),
                           self.image_shape)
        chosen = _chosen(len(x), self.p, generator)
        if chosen is not None:
            erased = erased & chosen.view(-1, 1, 1)
        return images.masked_fill(erased.unsqueeze(1), 0.0).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"image_shape={self.image_shape}, size={self.size}, p={self.p}"


def cut_and_paste(x1: torch.Tensor, x2: torch.Tensor, lam: float | torch.Tensor,
                  image_shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix's image step: paste one random box of ``x2`` into ``x1``; return ``(mixed, weight)``.

    The box's sides are ``√(1 - lam)`` times the image's, rounded to whole
    pixels, so its area is about ``1 - lam`` of the image; it is centred on a
    uniformly drawn pixel and clipped at the border (``random_boxes``), one box
    for the whole batch as in the authors' code. ``weight`` is the share of
    pixels that still come from ``x1`` (a 0-d tensor): ``lam`` corrected for
    the rounding and the clipping, and the weight of ``x1``'s label.
    """
    _check_tensor(x1, "x1")
    if not isinstance(x2, torch.Tensor) or x2.shape != x1.shape:
        raise ValueError(f"x2 must be a tensor of x1's shape {tuple(x1.shape)}; got {getattr(x2, 'shape', x2)!r}")
    lam = check_number(float(lam), "lam", low=0.0, high=1.0)
    image_shape = _check_image_shape(image_shape)
    first, second = _as_images(x1, image_shape), _as_images(x2, image_shape)
    scale = math.sqrt(1.0 - lam)
    box = random_boxes(1, image_shape, round(scale * image_shape[0]), round(scale * image_shape[1]))
    pasted = box_masks(box, image_shape)                                    # (1, H, W)
    mixed = torch.where(pasted.unsqueeze(1), second, first).reshape(x1.shape)
    return mixed, 1.0 - pasted.to(torch.float32).mean()


def cutmix(x: torch.Tensor, y: torch.Tensor, alpha: float, image_shape: tuple[int, int],
           p: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | float]:
    """CutMix (Yun et al. 2019) for one batch: ``(mixed, y, y2, weight)``, the loss being
    ``weight · CE(ŷ, y) + (1 - weight) · CE(ŷ, y2)``, as for mixup.

    With probability ``p`` (the paper: 0.5 on CIFAR, 1 on ImageNet) the batch
    is mixed: λ ~ Beta(alpha, alpha), a partner for each image (the batch in
    shuffled order, labels ``y2``) and ``cut_and_paste``; otherwise it comes
    back as it is, with ``y2 = y`` and weight 1. Draws from torch's global
    random stream.
    """
    _check_tensor(x)
    alpha = check_number(alpha, "alpha", low=0.0, low_inclusive=False)
    p = _check_probability(p)
    if p < 1 and float(torch.rand(())) >= p:
        return x, y, y, 1.0
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    partner = torch.randperm(len(x))
    mixed, weight = cut_and_paste(x, x[partner], lam, image_shape)
    return mixed, y, y[partner], weight


# ------------------------------------------------------------------ experiments

def can_transform(layer: nn.Module | None) -> bool:
    """Whether ``layer`` is made only of this module's layers, whose draws can come from a given generator."""
    if layer is None:
        return True
    if isinstance(layer, Compose):
        return all(can_transform(transform) for transform in layer)
    return isinstance(layer, (_RandomTransform, GaussianNoise))


class WithAugmentation:
    """The ``model_fn`` that ``with_augmentation`` returns; ``layer`` is what it puts in front."""

    def __init__(self, layer: nn.Module | None):
        if layer is not None and not isinstance(layer, nn.Module):
            raise TypeError(f"layer must be a torch.nn.Module (an augmentation layer) or None; got "
                            f"{type(layer).__name__}")
        self.layer = layer

    def __call__(self, config: Config, n_inputs: int, n_outputs: int) -> nn.Module:
        network = build_model(config, n_inputs, n_outputs)
        return network if self.layer is None else nn.Sequential(copy.deepcopy(self.layer), network)

    def __repr__(self) -> str:
        return f"with_augmentation({self.layer!r})"


def with_augmentation(layer: nn.Module | None) -> WithAugmentation:
    """A ``model_fn`` for ``cu.sweep`` that puts ``layer`` in front of each run's network.

    ``cu.sweep(configs, data, model_fn=with_augmentation(RandomShift(4)))``
    trains ``nn.Sequential(layer, build_model(config, n_inputs, n_outputs))``
    for every run, so the augmentation sees training batches only. Each run
    gets its own copy of ``layer``; ``None`` means no augmentation (the network
    alone, exactly as ``build_model`` makes it). When ``can_transform(layer)``,
    the sweep trains its runs batched, as it does without augmentation.
    """
    return WithAugmentation(layer)
