"""The course's networks, built from torch layers: an MLP and a small 1-D CNN."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .config import ACTIVATIONS, Config
from .data import Dataset
from .validation import check_choice, check_nonnegative, check_positive_int, check_rate, check_widths

__all__ = ["GaussianNoise", "MLP", "CNN1d", "build_model", "count_parameters", "model_sizes"]

_ACTIVATION_LAYERS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class GaussianNoise(nn.Module):
    """Adds N(0, std²) noise in training mode; the identity in eval mode."""

    def __init__(self, std: float):
        super().__init__()
        self.std = check_nonnegative(std, "std")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(x) if self.training else x

    def transform(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x plus fresh noise drawn from ``generator`` (default: the global stream), as in training."""
        if self.std == 0:
            return x
        return x + self.std * torch.randn(x.shape, dtype=x.dtype, generator=generator)

    def extra_repr(self) -> str:
        return f"std={self.std}"


def _hidden_block(layer: nn.Module, width: int, activation: str, dropout: float, batch_norm: bool,
                  norm: type[nn.Module]) -> list[nn.Module]:
    """layer → [batch norm] → activation → [dropout]: the order used throughout the course."""
    block = [layer]
    if batch_norm:
        block.append(norm(width))
    block.append(_ACTIVATION_LAYERS[activation]())
    if dropout > 0:
        block.append(nn.Dropout(dropout))
    return block


class MLP(nn.Sequential):
    """Fully connected network: inputs (batch, n_inputs) → outputs (batch, n_outputs)."""

    def __init__(self, n_inputs: int, n_outputs: int, hidden: Sequence[int] = (100, 100), activation: str = "relu",
                 dropout: float = 0.0, input_dropout: float = 0.0, batch_norm: bool = False,
                 input_noise: float = 0.0):
        check_positive_int(n_inputs, "n_inputs")
        check_positive_int(n_outputs, "n_outputs")
        check_choice(activation, "activation", ACTIVATIONS)
        check_rate(dropout, "dropout")
        check_rate(input_dropout, "input_dropout")
        check_nonnegative(input_noise, "input_noise")
        hidden = check_widths(hidden, "hidden")
        layers: list[nn.Module] = [nn.Flatten()]
        if input_noise > 0:
            layers.append(GaussianNoise(input_noise))
        if input_dropout > 0:
            layers.append(nn.Dropout(input_dropout))
        width_in = n_inputs
        for width in hidden:
            layers += _hidden_block(nn.Linear(width_in, width), width, activation, dropout, batch_norm,
                                    nn.BatchNorm1d)
            width_in = width
        layers.append(nn.Linear(width_in, n_outputs))
        super().__init__(*layers)


class CNN1d(nn.Module):
    """1-D CNN for sequences (batch, length) or (batch, 1, length).

    Each conv layer has kernel 5, stride 2 and padding 2, halving the length; a
    linear layer reads out the flattened features. This is the course's CNN, not
    the MNIST-1D paper's (kernels 5, 3, 3 with padding 1, trained 6,000 steps),
    which benchmarks/reproduce_mnist1d.py trains and compares with the paper's Table 1.
    """

    def __init__(self, length: int, n_outputs: int, channels: Sequence[int] = (25, 25, 25), activation: str = "relu",
                 dropout: float = 0.0, batch_norm: bool = False, input_noise: float = 0.0):
        super().__init__()
        check_positive_int(length, "length")
        check_positive_int(n_outputs, "n_outputs")
        check_choice(activation, "activation", ACTIVATIONS)
        check_rate(dropout, "dropout")
        check_nonnegative(input_noise, "input_noise")
        channels = check_widths(channels, "channels")
        layers: list[nn.Module] = [GaussianNoise(input_noise)] if input_noise > 0 else []
        c_in = 1
        for c_out in channels:
            layers += _hidden_block(nn.Conv1d(c_in, c_out, kernel_size=5, stride=2, padding=2), c_out,
                                    activation, dropout, batch_norm, nn.BatchNorm1d)
            c_in = c_out
            length = (length - 1) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.readout = nn.Linear(c_in * length, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.unsqueeze(1)
        return self.readout(self.features(x).flatten(1))


def build_model(config: Config, n_inputs: int, n_outputs: int) -> nn.Module:
    """The network a ``Config`` describes, initialised from ``config.seed``."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be a course_utils.Config; got {type(config).__name__}")
    torch.manual_seed(config.seed)
    if config.model == "cnn":
        if config.input_dropout:
            raise ValueError("input_dropout is for MLPs; the CNN takes dropout and input_noise")
        return CNN1d(n_inputs, n_outputs, config.hidden, config.activation, config.dropout,
                     config.batch_norm, config.input_noise)
    return MLP(n_inputs, n_outputs, config.hidden, config.activation, config.dropout, config.input_dropout,
               config.batch_norm, config.input_noise)


def model_sizes(data: Dataset) -> tuple[int, int]:
    """(n_inputs, n_outputs) as build_model takes them."""
    y = data.y_train
    n_outputs = data.n_classes if data.is_classification else (y.shape[1] if y.ndim == 2 else 1)
    return int(np.prod(data.x_train.shape[1:])), n_outputs


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
