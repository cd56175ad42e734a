"""The MLP, the 1-D CNN, build_model and count_parameters."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import flat_parameters
from course_utils import Config, build_model
from course_utils.models import CNN1d, MLP, GaussianNoise, count_parameters


@pytest.mark.parametrize("hidden", [(), (7,), (16, 8, 4)])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_mlp_output_shape(hidden, batch_norm):
    model = MLP(12, 5, hidden=hidden, batch_norm=batch_norm).eval()
    assert model(torch.randn(9, 12)).shape == (9, 5)


def test_mlp_flattens_sequences():
    model = MLP(40, 3, hidden=(8,))
    assert model(torch.randn(4, 1, 40)).shape == (4, 3)


def test_mlp_layer_order():
    """Linear → BatchNorm → activation → Dropout, with noise and input dropout first."""
    model = MLP(6, 2, hidden=(4,), activation="tanh", dropout=0.5, input_dropout=0.2, batch_norm=True,
                input_noise=0.1)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Flatten, GaussianNoise, nn.Dropout, nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout, nn.Linear]
    assert model[2].p == 0.2 and model[6].p == 0.5 and model[1].std == 0.1


def test_no_dropout_layer_when_rate_is_zero():
    model = MLP(6, 2, hidden=(4, 4))
    assert not any(isinstance(m, (nn.Dropout, GaussianNoise)) for m in model.modules())


@pytest.mark.parametrize("model", [
    MLP(10, 3, hidden=(32, 32), dropout=0.5),
    MLP(10, 3, hidden=(32,), input_dropout=0.5),
    MLP(10, 3, hidden=(32,), input_noise=1.0),
    CNN1d(10, 3, channels=(4,), dropout=0.5),
    CNN1d(10, 3, channels=(4,), input_noise=1.0),
], ids=["dropout", "input_dropout", "input_noise", "cnn_dropout", "cnn_noise"])
def test_stochastic_layers_only_act_in_training(model):
    x = torch.randn(16, 10)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.equal(first, second)
    model.train()
    with torch.no_grad():
        third, fourth = model(x), model(x)
    assert not torch.equal(third, fourth)
    assert not torch.equal(third, first)


def test_gaussian_noise_std():
    layer = GaussianNoise(0.5).train()
    x = torch.zeros(200_000)
    assert layer(x).std().item() == pytest.approx(0.5, rel=0.02)
    assert torch.equal(GaussianNoise(0.0).train()(x), x)


@pytest.mark.parametrize("shape", [(6, 40), (6, 1, 40)])
def test_cnn_output_shape_for_mnist1d_length(shape):
    model = CNN1d(40, 10, channels=(25, 25, 25))
    assert model(torch.randn(*shape)).shape == (6, 10)
    # Three stride-2 layers: 40 → 20 → 10 → 5.
    assert model.readout.in_features == 25 * 5


@pytest.mark.parametrize("length", [1, 7, 33])
def test_cnn_any_length(length):
    assert CNN1d(length, 2, channels=(3, 3)).eval()(torch.randn(2, length)).shape == (2, 2)


def test_count_parameters_mlp():
    # 40·100+100, 100·100+100, 100·10+10
    assert count_parameters(MLP(40, 10, hidden=(100, 100))) == 4100 + 10100 + 1010


def test_count_parameters_cnn():
    # conv 1→25: 25·5+25; conv 25→25 twice: 25·25·5+25; readout 125·10+10
    assert count_parameters(CNN1d(40, 10, channels=(25, 25, 25))) == 150 + 3150 + 3150 + 1260


def test_count_parameters_skips_frozen():
    model = MLP(4, 2, hidden=(3,))
    model[1].weight.requires_grad_(False)
    assert count_parameters(model) == 3 + (3 * 2 + 2)


def test_count_parameters_batch_norm():
    # each BatchNorm1d(3) adds a scale and a shift per feature; its running statistics are buffers
    assert count_parameters(MLP(4, 2, hidden=(3,), batch_norm=True)) == (4 * 3 + 3) + 6 + (3 * 2 + 2)


class TestBuildModel:
    def test_mlp_from_config(self):
        model = build_model(Config(hidden=(8, 8), activation="gelu", dropout=0.3), 5, 2)
        assert isinstance(model, MLP)
        assert sum(isinstance(m, nn.GELU) for m in model) == 2
        assert sum(isinstance(m, nn.Dropout) for m in model) == 2

    def test_cnn_from_config(self):
        model = build_model(Config(model="cnn", hidden=(4, 4), batch_norm=True), 40, 10)
        assert isinstance(model, CNN1d)
        assert model.eval()(torch.randn(3, 40)).shape == (3, 10)
        assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 2

    @pytest.mark.parametrize("config", [Config(hidden=(8,)), Config(model="cnn", hidden=(4,))])
    def test_deterministic_by_seed(self, config):
        from dataclasses import replace
        a = build_model(config, 20, 3)
        torch.manual_seed(12345)  # the global RNG state must not matter
        torch.randn(10)
        b = build_model(config, 20, 3)
        c = build_model(replace(config, seed=1), 20, 3)
        assert torch.equal(flat_parameters(a), flat_parameters(b))
        assert not torch.equal(flat_parameters(a), flat_parameters(c))

    def test_cnn_rejects_input_dropout(self):
        with pytest.raises(ValueError, match="input_dropout is for MLPs"):
            build_model(Config(model="cnn", hidden=(4,), input_dropout=0.1), 40, 10)

    def test_config_type_checked(self):
        with pytest.raises(TypeError, match="config must be a course_utils.Config"):
            build_model({"model": "mlp"}, 4, 2)
