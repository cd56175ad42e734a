"""Conv1d and Linear layers for stacks of networks: under ``vmap``, all members' layers in one batched product.

vmap's rule for ``conv1d`` with a weight per member is a grouped convolution, which on CPU runs at a fraction
of a matrix product's rate. ``StackedConv1d`` computes the members' convolutions as one ``baddbmm`` over im2col
columns, and its backward as batched products too. Its output keeps each member's rows innermost in memory,
(members, channels, length, rows), which the member sees as an ordinary (rows, channels, length) tensor: the
next layer's taps are then contiguous blocks and a flatten before a readout is a view. On that layout vmap's
rule for ``linear`` takes twice as long, forward and backward, as ``StackedLinear``'s weight @ inputsᵀ.
Outside ``vmap`` the layers are ``F.conv1d`` and ``F.linear``. ``stack_layers`` swaps them into a stack's
template.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["StackedConv1d", "StackedLinear", "member_conv1d", "member_linear", "stack_layers"]


def _columns(x: torch.Tensor, kernel: int, stride: int, padding: int, length: int) -> torch.Tensor:
    """The im2col matrix: x (M, C, L, B) -> (M, kernel·C, length·B).

    Row j·C + c, column l·B + b holds x[:, c, stride·l + j - padding, b], zero in the padding: each tap
    is one strided copy of the input, and only the padded ends are zeroed.
    """
    M, C, L, B = x.shape
    columns = x.new_empty(M, kernel, C, length, B)
    for j in range(kernel):
        first = max(0, -((j - padding) // stride))   # the first and last outputs whose input is not padding
        n = max(0, min(length - 1, (L - 1 + padding - j) // stride) - first + 1)
        columns[:, j, :, :first].zero_()
        columns[:, j, :, first + n:].zero_()
        if n:
            start = stride * first + j - padding
            columns[:, j, :, first:first + n] = x[:, :, start:start + stride * (n - 1) + 1:stride]
    return columns.view(M, kernel * C, length * B)


class _MemberConvs(torch.autograd.Function):
    """x (M, B, in, L), weight (M, out, in, k), bias (M, out) -> (M, B, out, L'), each member its own.

    The output is (M, out, L', B) in memory: one ``baddbmm`` of the members' (out, k·in) weights over their
    columns, whose transpose also gives the weight gradient in one product. The input gradient is the
    transposed convolution without col2im's scattered adds: padded input position stride·m + r receives
    tap j = r + stride·t from output m - t, so each residue r is a sum of products over shifted views
    of the zero-guarded output gradient, and the residues interleave.
    """

    @staticmethod
    def forward(x, weight, bias, stride, padding):
        M, B, C, L = x.shape
        channels, kernel = weight.shape[1], weight.shape[3]
        length = (L + 2 * padding - kernel) // stride + 1
        columns = _columns(x.permute(0, 2, 3, 1), kernel, stride, padding, length)
        flat = weight.permute(0, 1, 3, 2).reshape(M, channels, kernel * C)   # columns' (tap, channel) order
        out = torch.baddbmm(bias.unsqueeze(2), flat, columns)
        return out.view(M, channels, length, B).permute(0, 3, 1, 2), columns, flat

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _, ctx.stride, ctx.padding = inputs
        ctx.mark_non_differentiable(*output[1:])   # returned only to be saved
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*output[1:])
        ctx.length, ctx.kernel = x.shape[3], weight.shape[3]

    @staticmethod
    def backward(ctx, grad, *_):
        if grad is None:   # the output was not used
            return None, None, None, None, None
        columns, flat = ctx.saved_tensors
        (M, B, channels, length), L, kernel, stride = grad.shape, ctx.length, ctx.kernel, ctx.stride
        C = flat.shape[2] // kernel
        grad = grad.permute(0, 2, 3, 1).reshape(M, channels, length * B)
        grad_weight = torch.bmm(grad, columns.transpose(1, 2)).view(M, channels, kernel, C).transpose(2, 3)
        grad_x = None
        if ctx.needs_input_grad[0]:
            back = flat.view(M, channels, kernel, C).permute(2, 0, 3, 1)        # (k, M, in, out), views
            shifts, n = (kernel - 1) // stride, (ctx.padding + L - 1) // stride + 1   # m = 0 .. n - 1
            guarded = grad.new_zeros(M, channels, shifts + max(length, n), B)  # outputs -shifts, -shifts + 1, ..
            guarded[:, :, shifts:shifts + length] = grad.view(M, channels, length, B)
            guarded = guarded.view(M, channels, -1)
            residues = []
            for r in range(stride):
                part = grad.new_zeros(M, C, n * B) if r >= kernel else None
                for t, j in enumerate(range(r, kernel, stride)):
                    window = guarded[:, :, (shifts - t) * B:(shifts - t + n) * B]
                    part = torch.bmm(back[j], window) if part is None else part.baddbmm_(back[j], window)
                residues.append(part.view(M, C, n, B))
            padded = torch.stack(residues, 3).view(M, C, n * stride, B) if stride > 1 else residues[0]
            grad_x = padded[:, :, ctx.padding:ctx.padding + L].permute(0, 3, 1, 2)
        return grad_x, grad_weight, grad.sum(2), None, None


def member_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int,
                  padding: int) -> torch.Tensor:
    """Each member's Conv1d: x (M, B, in, L), weight (M, out, in, k), bias (M, out) -> (M, B, out, L').

    The output is (M, out, L', B) in memory; an input laid out so, (M, in, L, B) permuted, is read without a copy.
    Both engines compute their members' convolutions here.
    """
    return _MemberConvs.apply(x, weight, bias, stride, padding)[0]


def _member_convs(stride: int, padding: int, x, weight, bias):
    """Every member's convolution, or None for an input that is not a batch (M, B, in, L)."""
    return member_conv1d(x, weight, bias, stride, padding) if x.ndim == 4 else None


def member_linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Every member's linear layer on feature-major inputs: weight (M, out, in) @ h (M, in, rows) + bias (M, out),
    as (M, out, rows); one batched product. Both engines compute their members' linear layers here."""
    return torch.bmm(weight, h) if bias is None else torch.baddbmm(bias.unsqueeze(2), weight, h)


def _member_linears(x, weight, bias):
    """Every member's x @ weightᵀ + bias, for x (M, B, in), as weight @ xᵀ: a fast product in either layout."""
    return member_linear(x.transpose(1, 2), weight, bias).transpose(1, 2) if x.ndim == 3 else None


class _Layer(torch.autograd.Function):
    """``layer(x, weight, bias)``; under vmap, with all three batched, ``members`` of the stacked tensors.

    Outside vmap the backward is the layer's own, through torch.func.vjp, which computes the forward again:
    stacks train under vmap, and evaluating them needs no gradient.
    """

    @staticmethod
    def forward(layer, members, x, weight, bias):
        return layer(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.layer = inputs[0]
        ctx.save_for_backward(*inputs[2:])

    @staticmethod
    def backward(ctx, grad):
        return None, None, *torch.func.vjp(ctx.layer, *ctx.saved_tensors)[1](grad)

    @staticmethod
    def vmap(info, in_dims, layer, members, x, weight, bias):
        in_dims = in_dims[2:]
        if None not in in_dims:
            out = members(*(t.movedim(d, 0) for t, d in zip((x, weight, bias), in_dims)))
            if out is not None:
                return out, 0
        # A shared input or layer, or an input the fast rule does not take: vmap's own rule.
        return torch.vmap(layer, in_dims=in_dims)(x, weight, bias), 0


class StackedConv1d(nn.Conv1d):
    """An ``nn.Conv1d`` (zero padding, dilation 1, one group, a bias) with the fast rule under vmap."""

    @staticmethod
    def computes(conv: nn.Conv1d) -> bool:
        """Whether ``conv`` has the settings this layer computes."""
        return (conv.bias is not None and conv.dilation == (1,) and conv.groups == 1
                and conv.padding_mode == "zeros" and not isinstance(conv.padding, str))

    @classmethod
    def from_conv(cls, conv: nn.Conv1d) -> StackedConv1d:
        """The layer computing ``conv``, holding its very ``weight`` and ``bias`` parameters."""
        if not cls.computes(conv):
            raise ValueError(f"StackedConv1d computes Conv1d layers with zero padding, dilation 1, one group "
                             f"and a bias; got {conv}")
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, device="meta")
        layer.weight, layer.bias = conv.weight, conv.bias
        return layer.train(conv.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Layer.apply(partial(F.conv1d, stride=self.stride, padding=self.padding),
                            partial(_member_convs, self.stride[0], self.padding[0]), x, self.weight, self.bias)


class StackedLinear(nn.Linear):
    """An ``nn.Linear`` with a bias, with the fast rule under vmap."""

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> StackedLinear:
        """The layer computing ``linear``, holding its very ``weight`` and ``bias`` parameters."""
        if linear.bias is None:
            raise ValueError(f"StackedLinear computes Linear layers with a bias; got {linear}")
        layer = cls(linear.in_features, linear.out_features, device="meta")
        layer.weight, layer.bias = linear.weight, linear.bias
        return layer.train(linear.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Layer.apply(F.linear, _member_linears, x, self.weight, self.bias)


def stack_layers(module: nn.Module) -> nn.Module:
    """Swap, in place, the plain ``nn.Conv1d`` layers of ``module`` this file computes, and then its ``nn.Linear``
    layers with a bias; return it (the new layer if ``module`` is itself one).

    Linear layers are swapped only beside a convolution: they then read its layout, where vmap's rule is
    slow; in an MLP both rules take the same time (measured). The parameters keep their names and objects,
    so ``functional_call`` binds a stacked state dict as before; other layers keep vmap's own rules.
    """
    layers = {name: StackedConv1d.from_conv(m) for name, m in module.named_modules()
              if type(m) is nn.Conv1d and StackedConv1d.computes(m)}
    if layers:
        layers.update({name: StackedLinear.from_linear(m) for name, m in module.named_modules()
                       if type(m) is nn.Linear and m.bias is not None})
    for name, layer in layers.items():
        if not name:
            return layer
        parent, _, attribute = name.rpartition(".")
        setattr(module.get_submodule(parent), attribute, layer)
    return module
