"""Weight decay against an L2 term in the loss, step for step, with the course's optimizers.

* SGD: ``weight_decay=λ`` and ``loss + λ/2·Σw²`` give the same weights (with and without momentum).
* Adam: ``Adam(weight_decay=λ)`` is the coupled L2 term, but AdamW's decoupled decay is something else.
* By default biases and normalization parameters are not decayed.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from course_utils.config import Config
from course_utils.models import build_model
from course_utils.penalties import elastic_net_penalty, penalized_parameters
from course_utils.training import make_optimizer


def _batch(n_inputs=8, n_classes=3, n=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, n_inputs, generator=generator), torch.randint(0, n_classes, (n,), generator=generator)


def _train(config: Config, l2_in_loss: float = 0.0, steps: int = 30, batch_norm: bool = False):
    """Full-batch steps with ``make_optimizer(config)``; an optional L2 term on the penalized parameters."""
    config = dataclasses.replace(config, hidden=(16, 16), batch_norm=batch_norm)
    model = build_model(config, n_inputs=8, n_outputs=3)
    optimizer = make_optimizer(model, config)
    x, y = _batch()
    trajectory = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss = loss + elastic_net_penalty(penalized_parameters(model, config.penalize_biases), 0.0, l2_in_loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trajectory.append(torch.cat([p.detach().flatten().clone() for p in model.parameters()]))
    return trajectory


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("penalize_biases", [False, True])
def test_sgd_weight_decay_equals_l2_in_the_loss_step_for_step(momentum, penalize_biases):
    base = Config(optimizer="sgd", lr=0.1, momentum=momentum, penalize_biases=penalize_biases)
    in_loss = _train(base, l2_in_loss=0.05)
    decayed = _train(dataclasses.replace(base, weight_decay=0.05))
    for step, (a, b) in enumerate(zip(in_loss, decayed), start=1):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"diverged at step {step}")


def test_the_l2_term_changes_the_training():
    """Guard: the equality above is not because the penalty does nothing."""
    base = Config(optimizer="sgd", lr=0.1)
    assert (_train(base, l2_in_loss=0.05)[-1] - _train(base)[-1]).abs().max() > 1e-3


def test_adam_weight_decay_is_the_coupled_l2_term():
    base = Config(optimizer="adam", lr=1e-2)
    in_loss = _train(base, l2_in_loss=0.05)
    coupled = _train(dataclasses.replace(base, weight_decay=0.05))
    for a, b in zip(in_loss, coupled):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_adamw_decay_is_not_an_l2_term():
    """With Adam, the L2 gradient is rescaled per weight; AdamW's decoupled decay is not, so they differ."""
    base = Config(optimizer="adam", lr=1e-2)
    in_loss = _train(base, l2_in_loss=0.05)[-1]
    decoupled = _train(dataclasses.replace(base, optimizer="adamw", weight_decay=0.05))[-1]
    assert (in_loss - decoupled).abs().max() > 1e-2
    # and no rescaling of λ makes them agree: the effective decay differs from weight to weight
    for scale in (0.1, 1.0, 10.0, 100.0):
        rescaled = _train(dataclasses.replace(base, optimizer="adamw", weight_decay=0.05 * scale))[-1]
        assert (in_loss - rescaled).abs().max() > 1e-3


def test_adamw_is_adam_plus_a_separate_shrink():
    """AdamW's step = shrink every decayed weight by (1 − lr·λ), then the plain Adam step."""
    config = Config(optimizer="adamw", lr=1e-2, weight_decay=0.5, hidden=(16, 16))
    model = build_model(config, 8, 3)
    reference = build_model(config, 8, 3)
    optimizer = make_optimizer(model, config)
    plain = torch.optim.Adam(reference.parameters(), lr=config.lr)
    decayed_ids = {id(p) for p in penalized_parameters(reference)}
    x, y = _batch()
    for _ in range(10):
        for net, opt in ((model, optimizer), (reference, plain)):
            loss = torch.nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
        with torch.no_grad():
            for p in reference.parameters():
                if id(p) in decayed_ids:
                    p.mul_(1 - config.lr * config.weight_decay)
        optimizer.step()
        plain.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_decay_skips_biases_and_normalization_by_default(optimizer):
    """With a zero loss gradient, decay alone moves the weights; biases and batch-norm parameters stay put."""
    config = Config(optimizer=optimizer, lr=0.1, weight_decay=0.5, hidden=(16, 16), batch_norm=True)
    model = build_model(config, 8, 3)
    with torch.no_grad():  # batch-norm shifts start at exactly 0, where decay could not show
        for p in model.parameters():
            p.add_(0.1)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    opt = make_optimizer(model, config)
    x, _ = _batch()
    (0.0 * model(x).sum()).backward()  # gradients exist and are exactly zero
    opt.step()
    norm_ids = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d) for p in m.parameters()}
    moved = {name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])}
    for name, p in model.named_parameters():
        if p.ndim >= 2:
            assert name in moved, f"{name} (a weight matrix) was not decayed"
        else:
            assert name not in moved, f"{name} was decayed"
    assert norm_ids and all(p.ndim == 1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)
                            for p in m.parameters())


def test_sgd_decay_shrinks_weights_by_one_minus_lr_lambda():
    config = Config(optimizer="sgd", lr=0.1, weight_decay=0.5, hidden=(4,))
    model = build_model(config, 8, 3)
    weight = model[1].weight.detach().clone()
    opt = make_optimizer(model, config)
    x, _ = _batch()
    (0.0 * model(x).sum()).backward()
    opt.step()
    torch.testing.assert_close(model[1].weight.detach(), weight * (1 - 0.1 * 0.5))


def test_penalize_biases_decays_everything():
    config = Config(optimizer="sgd", lr=0.1, weight_decay=0.5, hidden=(4,), batch_norm=True, penalize_biases=True)
    model = build_model(config, 8, 3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    before = [p.detach().clone() for p in model.parameters()]
    opt = make_optimizer(model, config)
    x, _ = _batch()
    (0.0 * model(x).sum()).backward()
    opt.step()
    assert all(not torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before))
