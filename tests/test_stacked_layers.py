"""The stacked layers compute their torch layers exactly, outside vmap, and member by member under it.

Under vmap the convolution is one im2col product per layer with a hand-derived backward, so it is held to
each member's F.conv1d: forward to 1e-5, gradients to 1e-4 relative, and gradcheck in float64.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from course_utils import Config, build_model
from course_utils.stacked_layers import StackedConv1d, StackedLinear, member_linear, stack_layers

# (in, out, kernel, stride, padding, length): the course's CNN (5, 2, 2), the MNIST-1D paper's (5 and 3, stride 2,
# padding 1), stride 1, a kernel shorter than the stride, a 1-tap kernel, padding wider than the kernel's reach.
SHAPES = [(1, 6, 5, 2, 2, 40), (4, 6, 5, 2, 2, 9), (1, 5, 5, 2, 1, 40), (5, 5, 3, 2, 1, 19), (3, 4, 3, 1, 1, 7),
          (2, 3, 2, 3, 0, 11), (2, 3, 1, 1, 0, 5), (2, 3, 3, 2, 3, 6), (2, 3, 4, 3, 2, 13)]


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def members(layers: list[nn.Module], dtype=torch.float32) -> dict[str, torch.Tensor]:
    params, _ = stack_module_state(layers)
    return {name: p.detach().to(dtype).requires_grad_() for name, p in params.items()}


def per_member(template: nn.Module, params: dict, x: torch.Tensor, x_dim: int | None = 0) -> torch.Tensor:
    return vmap(lambda p, xx: functional_call(template, p, (xx,)), in_dims=(0, x_dim))(params, x)


@pytest.mark.parametrize("shape", SHAPES)
def test_conv_under_vmap_is_each_members_conv1d(shape):
    c_in, c_out, kernel, stride, padding, length = shape
    torch.manual_seed(0)
    convs = [nn.Conv1d(c_in, c_out, kernel, stride, padding) for _ in range(3)]
    params, x = members(convs), torch.randn(3, 4, c_in, length, requires_grad=True)
    out = per_member(StackedConv1d.from_conv(convs[0]), params, x)
    expected = torch.stack([F.conv1d(x[m], params["weight"][m], params["bias"][m], stride, padding)
                            for m in range(3)])
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(out)
    inputs = (x, params["weight"], params["bias"])
    for got, want in zip(torch.autograd.grad(out, inputs, grad), torch.autograd.grad(expected, inputs, grad)):
        assert relative(got, want) < 1e-4


def test_conv_under_vmap_keeps_rows_innermost():
    """The fast rule's own layout: each member's rows are innermost in memory (vmap's rule leaves them outer)."""
    conv = nn.Conv1d(2, 3, 5, 2, 2)
    out = per_member(StackedConv1d.from_conv(conv), members([conv, copy.deepcopy(conv)]), torch.randn(2, 6, 2, 12))
    assert out.shape == (2, 6, 3, 6) and out.stride(1) == 1


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[3], SHAPES[5], SHAPES[8]])
def test_conv_under_vmap_passes_gradcheck(shape):
    c_in, c_out, kernel, stride, padding, length = shape
    torch.manual_seed(1)
    convs = [nn.Conv1d(min(c_in, 2), 2, kernel, stride, padding) for _ in range(2)]
    template, params = StackedConv1d.from_conv(convs[0]), members(convs, torch.float64)
    x = torch.randn(2, 3, min(c_in, 2), length, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: per_member(template, {"weight": w, "bias": b}, x),
                                    (x, params["weight"], params["bias"]))


def test_conv_under_vmap_with_a_shared_input():
    torch.manual_seed(2)
    convs = [nn.Conv1d(2, 3, 5, 2, 2) for _ in range(3)]
    params, x = members(convs), torch.randn(4, 2, 10)
    out = per_member(StackedConv1d.from_conv(convs[0]), params, x, x_dim=None)
    assert torch.allclose(out, torch.stack([conv(x) for conv in convs]), atol=1e-5)


@pytest.mark.parametrize("x", [torch.randn(4, 2, 11), torch.randn(2, 11)], ids=["batch", "one sequence"])
def test_conv_outside_vmap_is_conv1d(x):
    torch.manual_seed(3)
    conv = nn.Conv1d(2, 3, 3, 2, 1)
    layer = StackedConv1d.from_conv(copy.deepcopy(conv))
    x = x.requires_grad_()
    out, expected = layer(x), conv(x)
    assert torch.equal(out, expected)
    grads = [torch.autograd.grad(y.sum(), (x, m.weight, m.bias)) for y, m in ((out, layer), (expected, conv))]
    for got, want in zip(*grads):
        assert torch.allclose(got, want, atol=1e-6)


def test_linear_under_and_outside_vmap():
    torch.manual_seed(4)
    linears = [nn.Linear(6, 3) for _ in range(3)]
    params, template = members(linears), StackedLinear.from_linear(linears[0])
    x = torch.randn(3, 5, 6).transpose(1, 2).contiguous().transpose(1, 2).requires_grad_()   # rows innermost
    out = per_member(template, params, x)
    expected = torch.stack([F.linear(x[m], params["weight"][m], params["bias"][m]) for m in range(3)])
    assert torch.allclose(out, expected, atol=1e-5)
    inputs = (x, params["weight"], params["bias"])
    for got, want in zip(torch.autograd.grad(out.sum(), inputs), torch.autograd.grad(expected.sum(), inputs)):
        assert relative(got, want) < 1e-4
    y = torch.randn(2, 5, 6, requires_grad=True)
    assert torch.equal(template(y), linears[0](y))
    got = torch.autograd.grad(template(y).square().sum(), (y, template.weight, template.bias))
    want = torch.autograd.grad(linears[0](y).square().sum(), (y, linears[0].weight, linears[0].bias))
    assert all(torch.allclose(g, w, atol=1e-5) for g, w in zip(got, want))


@pytest.mark.parametrize("bias", [True, False])
def test_member_linear_is_each_members_linear_layer(bias):
    torch.manual_seed(0)
    weight, h = torch.randn(3, 5, 4, dtype=torch.float64), torch.randn(3, 4, 7, dtype=torch.float64)
    b = torch.randn(3, 5, dtype=torch.float64) if bias else None
    out = member_linear(h, weight, b)   # feature-major: (M, out, rows) from (M, in, rows)
    for m in range(3):
        expected = F.linear(h[m].t(), weight[m], None if b is None else b[m]).t()
        assert torch.allclose(out[m], expected, rtol=1e-12, atol=1e-12)


def test_stack_layers_keeps_the_course_cnn_and_its_parameters():
    nets = [build_model(Config(model="cnn", hidden=(5, 5, 5), seed=seed), 40, 10) for seed in range(3)]
    template = copy.deepcopy(nets[0])
    before = dict(template.named_parameters())
    stack_layers(template)
    assert dict(template.named_parameters()) == before   # the same names bound to the same objects
    assert sum(isinstance(m, (StackedConv1d, StackedLinear)) for m in template.modules()) == 4
    params, x = members(nets), torch.randn(3, 8, 40)
    out = per_member(template, params, x)
    expected = per_member(nets[0], params, x)
    assert torch.allclose(out, expected, atol=1e-5)
    for got, want in zip(torch.autograd.grad(out.sum(), list(params.values())),
                         torch.autograd.grad(expected.sum(), list(params.values()))):
        assert relative(got, want) < 1e-4


def test_stack_layers_leaves_what_it_does_not_compute():
    layers = nn.Sequential(nn.Conv1d(2, 2, 3, dilation=2), nn.Conv1d(2, 2, 3, groups=2), nn.Conv1d(2, 2, 3, bias=False),
                           nn.Conv1d(2, 2, 3, padding="same"), nn.Linear(4, 4, bias=False))
    assert all(type(m) is type(n) for m, n in zip(stack_layers(copy.deepcopy(layers)), layers))
    mlp = build_model(Config(model="mlp", hidden=(5,)), 4, 2)
    assert [type(m) for m in stack_layers(copy.deepcopy(mlp))] == [type(m) for m in mlp]   # no convolution
    assert isinstance(stack_layers(nn.Conv1d(1, 1, 3)), StackedConv1d)
    with pytest.raises(ValueError, match="dilation 1"):
        StackedConv1d.from_conv(layers[0])
