"""L1, L2 and elastic-net terms: values, gradients, properties, and which parameters they touch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from torch import nn

from course_utils.models import CNN1d, MLP
from course_utils.penalties import (elastic_net_penalty, l1_penalty, l2_penalty, parameter_groups,
                                    penalized_parameters)

finite = st.floats(-100.0, 100.0, allow_nan=False, allow_infinity=False)
weight_lists = st.lists(arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite),
                        min_size=1, max_size=4)
strength = st.floats(0.0, 10.0)


def tensors(arrays_, grad=False):
    return [torch.tensor(a, requires_grad=grad) for a in arrays_]


def test_values_by_hand():
    params = [torch.tensor([[1.0, -2.0]]), torch.tensor([3.0])]
    assert l1_penalty(params).item() == 6.0
    assert l2_penalty(params).item() == 0.5 * (1 + 4 + 9)
    assert elastic_net_penalty(params, 0.5, 2.0).item() == pytest.approx(0.5 * 6 + 2.0 * 7)


class TestGradients:
    w = [torch.tensor([[1.5, -0.5, 0.0], [2.0, -3.0, 0.25]]), torch.tensor([-1.0, 0.0, 4.0])]

    def grads(self, penalty):
        params = [t.clone().requires_grad_(True) for t in self.w]
        penalty(params).backward()
        return [p.grad for p in params]

    def test_l1_gradient_is_sign(self):
        for grad, w in zip(self.grads(l1_penalty), self.w):
            torch.testing.assert_close(grad, torch.sign(w), rtol=0, atol=0)

    def test_l2_gradient_is_w(self):
        for grad, w in zip(self.grads(l2_penalty), self.w):
            torch.testing.assert_close(grad, w, rtol=0, atol=1e-7)

    @pytest.mark.parametrize("a, b", [(0.3, 0.0), (0.0, 0.7), (0.3, 0.7), (2.0, 5.0)])
    def test_elastic_net_gradient(self, a, b):
        for grad, w in zip(self.grads(lambda p: elastic_net_penalty(p, a, b)), self.w):
            torch.testing.assert_close(grad, a * torch.sign(w) + b * w, rtol=1e-6, atol=1e-6)


class TestProperties:
    @given(weight_lists, strength, strength)
    def test_nonnegative(self, ws, a, b):
        params = tensors(ws)
        assert l1_penalty(params).item() >= 0
        assert l2_penalty(params).item() >= 0
        assert elastic_net_penalty(params, a, b).item() >= 0

    @given(weight_lists)
    def test_zero_strength_is_zero(self, ws):
        assert elastic_net_penalty(tensors(ws), 0.0, 0.0).item() == 0.0

    @given(weight_lists, strength)
    def test_elastic_net_without_l2_is_the_l1_term(self, ws, a):
        params = tensors(ws)
        assert elastic_net_penalty(params, a, 0.0).item() == pytest.approx(a * l1_penalty(params).item(), rel=1e-12)

    @given(weight_lists, strength)
    def test_elastic_net_without_l1_is_the_l2_term(self, ws, b):
        params = tensors(ws)
        assert elastic_net_penalty(params, 0.0, b).item() == pytest.approx(b * l2_penalty(params).item(), rel=1e-12)

    @given(weight_lists, st.floats(-10.0, 10.0))
    def test_homogeneity(self, ws, c):
        params = tensors(ws)
        scaled = [c * p for p in params]
        assert l1_penalty(scaled).item() == pytest.approx(abs(c) * l1_penalty(params).item(), rel=1e-9, abs=1e-9)
        assert l2_penalty(scaled).item() == pytest.approx(c * c * l2_penalty(params).item(), rel=1e-9, abs=1e-9)

    @given(weight_lists)
    def test_zero_strength_adds_no_gradient(self, ws):
        """A zero penalty term (l1 = l2 = 0) leaves the gradient of a loss exactly as it was."""
        params = tensors(ws, grad=True)
        loss = sum((p * torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape)).sum() for p in params)
        plain = torch.autograd.grad(loss, params, retain_graph=True)
        penalized = torch.autograd.grad(loss + elastic_net_penalty(params, 0.0, 0.0), params)
        for g, h in zip(plain, penalized):
            assert torch.equal(g, h)


@pytest.mark.parametrize("l1, l2, name", [(-0.1, 0.0, "l1"), (0.0, -1.0, "l2"), (np.nan, 0.0, "l1")])
def test_elastic_net_rejects_bad_strengths(l1, l2, name):
    with pytest.raises(ValueError, match=rf"{name} must be"):
        elastic_net_penalty([torch.ones(2)], l1, l2)


class TestWhichParameters:
    def test_mlp_default_is_weight_matrices_only(self):
        model = MLP(4, 2, hidden=(3, 3))
        linears = [m for m in model if isinstance(m, nn.Linear)]
        assert {id(p) for p in penalized_parameters(model)} == {id(m.weight) for m in linears}

    def test_include_biases(self):
        model = MLP(4, 2, hidden=(3, 3))
        assert {id(p) for p in penalized_parameters(model, include_biases=True)} == {id(p) for p in model.parameters()}

    @pytest.mark.parametrize("model", [MLP(4, 2, hidden=(3, 3), batch_norm=True),
                                       CNN1d(12, 2, channels=(3, 3), batch_norm=True)], ids=["mlp", "cnn"])
    def test_batch_norm_never_in_default_set(self, model):
        norm_params = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm1d) for p in m.parameters()}
        assert len(norm_params) == 4
        chosen = {id(p) for p in penalized_parameters(model)}
        assert not chosen & norm_params
        # the conv kernels and linear weights are all there
        kernels = {id(m.weight) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d))}
        assert chosen == kernels

    def test_frozen_parameters_are_left_out(self):
        model = MLP(4, 2, hidden=(3,))
        model[1].weight.requires_grad_(False)
        assert [id(p) for p in penalized_parameters(model)] == [id(model[3].weight)]

    def test_parameter_groups(self):
        model = MLP(4, 2, hidden=(3,))
        decayed, other = parameter_groups(model, 0.1)
        assert decayed["weight_decay"] == 0.1 and other["weight_decay"] == 0.0
        assert [id(p) for p in decayed["params"]] == [id(model[1].weight), id(model[3].weight)]
        assert [id(p) for p in other["params"]] == [id(model[1].bias), id(model[3].bias)]

    def test_parameter_groups_with_biases(self):
        model = MLP(4, 2, hidden=(3,), batch_norm=True)
        decayed, other = parameter_groups(model, 0.1, include_biases=True)
        assert len(decayed["params"]) == len(list(model.parameters())) and other["params"] == []

    def test_parameter_groups_rejects_negative_decay(self):
        with pytest.raises(ValueError, match=r"weight_decay must be in \[0, inf\); got -0.01"):
            parameter_groups(MLP(4, 2, hidden=(3,)), -0.01)
