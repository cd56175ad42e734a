"""The training engine: one step checked by hand, penalties against weight decay, early stopping,
Ctrl-C, divergence and reproducibility."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from conftest import flat_parameters, make_classification, make_regression
from course_utils import Config, Dataset, build_model, evaluate, fit, predict
from course_utils import training
from course_utils.penalties import elastic_net_penalty, penalized_parameters
from course_utils.training import EarlyStopping, History

# ---------------------------------------------------------------- one step, by hand

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-1.0, 1.0, 0.75],
              [0.0, -2.0, 1.0], [2.0, 0.5, 0.5], [-0.5, -0.75, -1.5]], dtype=np.float32)
Y = np.array([1.0, -0.5, 2.0, 0.25, -1.0, 0.5], dtype=np.float32)
W0 = np.array([0.3, -0.7, 0.2])
B0 = -0.4


def linear_model(w=W0, b=B0) -> nn.Linear:
    model = nn.Linear(len(w), 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(np.asarray(w)[None, :]))
        model.bias.fill_(b)
    return model


def one_sgd_step_by_hand(lr, l1=0.0, l2=0.0, weight_decay=0.0, penalize_biases=False):
    """Full-batch SGD on mean squared error plus l1·Σ|w| + l2/2·Σw², and coupled weight decay."""
    x, y = X.astype(np.float64), Y.astype(np.float64)
    residual = x @ W0 + B0 - y
    grad_w = 2 / len(y) * x.T @ residual + l1 * np.sign(W0) + (l2 + weight_decay) * W0
    grad_b = 2 / len(y) * residual.sum()
    if penalize_biases:
        grad_b += l1 * np.sign(B0) + (l2 + weight_decay) * B0
    w, b = W0 - lr * grad_w, B0 - lr * grad_b
    return w, b, np.mean((x @ w + b - y) ** 2)


@pytest.mark.parametrize("l1, l2, weight_decay, penalize_biases", [
    (0.0, 0.0, 0.0, False),
    (0.0, 0.5, 0.0, False),
    (0.0, 0.5, 0.0, True),
    (0.3, 0.0, 0.0, False),
    (0.3, 0.0, 0.0, True),
    (0.3, 0.5, 0.0, False),
    (0.0, 0.0, 0.5, False),
    (0.0, 0.0, 0.5, True),
], ids=["plain", "l2", "l2+biases", "l1", "l1+biases", "elastic", "decay", "decay+biases"])
def test_one_sgd_step_matches_hand_computation(l1, l2, weight_decay, penalize_biases):
    model = linear_model()
    data = Dataset(X, Y, X[:2], Y[:2])
    config = Config(optimizer="sgd", lr=0.1, batch_size=len(Y), epochs=1, l1=l1, l2=l2,
                    weight_decay=weight_decay, penalize_biases=penalize_biases)
    history = fit(model, data, config, progress=False)
    w, b, loss = one_sgd_step_by_hand(0.1, l1, l2, weight_decay, penalize_biases)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], w, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.bias.item(), b, rtol=0, atol=1e-6)
    # the recorded training loss is the data loss of the updated model, without the penalty
    assert history.train_loss == [pytest.approx(loss, abs=1e-6)]
    assert history.epochs == 1 and math.isnan(history.train_acc[0])


def test_bias_penalty_really_changes_the_step():
    # guards the test above: with these numbers, penalizing the bias is visible
    _, b_plain, _ = one_sgd_step_by_hand(0.1, l2=0.5)
    _, b_biased, _ = one_sgd_step_by_hand(0.1, l2=0.5, penalize_biases=True)
    assert abs(b_plain - b_biased) > 1e-2


def adam_first_step_by_hand(lr, l2=0.0, decoupled=0.0, eps=1e-8):
    """Adam's first step is lr·g/(|g|+eps) (bias-corrected moments are g and g²); AdamW first shrinks w."""
    x, y = X.astype(np.float64), Y.astype(np.float64)
    residual = x @ W0 + B0 - y
    grad_w = 2 / len(y) * x.T @ residual + l2 * W0
    grad_b = 2 / len(y) * residual.sum()
    w = W0 * (1 - lr * decoupled) - lr * grad_w / (np.abs(grad_w) + eps)
    b = B0 - lr * grad_b / (abs(grad_b) + eps)
    return w, b


@pytest.mark.parametrize("optimizer, l2, weight_decay, decoupled", [
    ("adam", 0.0, 0.0, 0.0),
    ("adam", 2.0, 0.0, 0.0),
    ("adam", 0.0, 2.0, 0.0),     # Adam's weight_decay is coupled: the same as L2 in the loss
    ("adamw", 0.0, 2.0, 2.0),    # AdamW's is decoupled: w ← w·(1 − lr·λ) before the Adam step
])
def test_one_adam_step_matches_hand_computation(optimizer, l2, weight_decay, decoupled):
    model = linear_model()
    config = Config(optimizer=optimizer, lr=0.1, batch_size=len(Y), epochs=1, l2=l2, weight_decay=weight_decay)
    fit(model, Dataset(X, Y, X[:2], Y[:2]), config, progress=False)
    w, b = adam_first_step_by_hand(0.1, l2=max(l2, weight_decay if optimizer == "adam" else 0.0),
                                   decoupled=decoupled)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], w, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.bias.item(), b, rtol=0, atol=1e-6)


def test_adam_l2_and_adamw_first_steps_differ():
    # guards the test above: coupled and decoupled decay give measurably different steps here
    coupled, _ = adam_first_step_by_hand(0.1, l2=2.0)
    decoupled, _ = adam_first_step_by_hand(0.1, decoupled=2.0)
    assert np.abs(coupled - decoupled).max() > 0.01


# ---------------------------------------------------------------- L2 in the loss against weight decay

def train(config, data, n_outputs=1):
    model = build_model(config, data.x_train.shape[1], n_outputs)
    history = fit(model, data, config, progress=False)
    return model, history


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("penalize_biases", [False, True])
def test_l2_in_the_loss_equals_sgd_weight_decay_step_for_step(momentum, penalize_biases):
    data = make_regression(n_train=40)
    base = Config(hidden=(16,), optimizer="sgd", lr=0.05, momentum=momentum, batch_size=10,
                  penalize_biases=penalize_biases)
    for epochs in range(1, 5):  # 4 steps per epoch
        with_l2, h_l2 = train(replace(base, epochs=epochs, l2=0.3), data)
        with_decay, h_decay = train(replace(base, epochs=epochs, weight_decay=0.3), data)
        torch.testing.assert_close(flat_parameters(with_l2), flat_parameters(with_decay), rtol=0, atol=1e-6)
        np.testing.assert_allclose(h_l2.train_loss, h_decay.train_loss, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(h_l2.val_loss, h_decay.val_loss, rtol=1e-6, atol=1e-6)
    plain, _ = train(replace(base, epochs=4), data)
    assert (flat_parameters(plain) - flat_parameters(with_l2)).abs().max() > 1e-3


def test_adam_weight_decay_is_l2_but_adamw_is_not():
    data = make_regression(n_train=40)
    base = Config(hidden=(16,), lr=0.05, batch_size=10, epochs=5)
    adam_l2, _ = train(replace(base, optimizer="adam", l2=0.1), data)
    adam_decay, _ = train(replace(base, optimizer="adam", weight_decay=0.1), data)
    adamw, _ = train(replace(base, optimizer="adamw", weight_decay=0.1), data)
    adam_plain, _ = train(replace(base, optimizer="adam"), data)
    torch.testing.assert_close(flat_parameters(adam_l2), flat_parameters(adam_decay), rtol=0, atol=1e-5)
    assert (flat_parameters(adamw) - flat_parameters(adam_l2)).abs().max() > 0.05
    assert (flat_parameters(adam_l2) - flat_parameters(adam_plain)).abs().max() > 0.05
    assert (flat_parameters(adamw) - flat_parameters(adam_plain)).abs().max() > 1e-3


@pytest.mark.parametrize("strength", ["l2", "weight_decay"])
def test_biases_are_left_alone_unless_asked(strength):
    """Zero inputs and targets equal to the bias: no data gradient at all, so only the penalty moves anything.

    Weights shrink geometrically, by (1 − lr·λ) per step; the bias moves only with penalize_biases=True.
    """
    data = Dataset(np.zeros((4, 2), np.float32), np.full(4, 2.0, np.float32), np.zeros((1, 2), np.float32),
                   np.zeros(1, np.float32))
    biases = {}
    for penalize_biases in (False, True):
        model = linear_model(w=np.array([1.0, -2.0]), b=2.0)
        config = Config(optimizer="sgd", lr=0.1, batch_size=4, epochs=3, penalize_biases=penalize_biases,
                        **{strength: 0.5})
        fit(model, data, config, progress=False)
        biases[penalize_biases] = model.bias.item()
        np.testing.assert_allclose(model.weight.detach().numpy()[0], np.array([1.0, -2.0]) * 0.95 ** 3, rtol=1e-6)
    assert biases[False] == 2.0
    assert biases[True] < 2.0 * 0.97


def test_zero_penalty_leaves_training_identical():
    """Adding elastic_net_penalty(·, 0, 0) to every step changes nothing, bit for bit."""
    data = make_classification()
    config = Config(hidden=(16,), dropout=0.2)
    x, y = training.as_tensors(data.x_train, data.y_train)
    loss_fn = nn.CrossEntropyLoss()
    runs = []
    for with_penalty in (False, True):
        model = build_model(config, 8, 3)
        params = penalized_parameters(model)
        penalty = (lambda: elastic_net_penalty(params, 0.0, 0.0)) if with_penalty else (lambda: 0.0)
        optimizer = training.make_optimizer(model, config)
        torch.manual_seed(0)
        generator = torch.Generator().manual_seed(0)
        losses = [training.train_epoch(model, optimizer, x, y, loss_fn, penalty, 16, generator) for _ in range(3)]
        runs.append((flat_parameters(model), losses))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not torch.equal(runs[0][0], flat_parameters(build_model(config, 8, 3)))  # training did move


# ---------------------------------------------------------------- early stopping

class TestEarlyStopping:
    def test_first_value_is_best(self):
        stopper = EarlyStopping(patience=2)
        assert stopper.update(5.0, 1) and stopper.best == 5.0 and stopper.best_epoch == 1

    def test_patience(self):
        stopper = EarlyStopping(patience=2)
        stopper.update(1.0, 1)
        assert not stopper.update(1.5, 2) and not stopper.should_stop
        assert not stopper.update(1.0, 3)  # equal is not better
        assert stopper.should_stop and stopper.best_epoch == 1

    def test_improvement_resets_the_counter(self):
        stopper = EarlyStopping(patience=2)
        stopper.update(1.0, 1)
        stopper.update(2.0, 2)
        assert stopper.update(0.5, 3) and stopper.waited == 0
        stopper.update(2.0, 4)
        assert not stopper.should_stop
        stopper.update(2.0, 5)
        assert stopper.should_stop and stopper.best_epoch == 3

    def test_min_delta(self):
        stopper = EarlyStopping(patience=2, min_delta=0.25)
        stopper.update(1.0, 1)
        assert not stopper.update(0.875, 2)   # better by 0.125 < min_delta: does not count
        assert stopper.waited == 1 and stopper.best == 1.0
        assert not stopper.update(0.75, 3)    # better by exactly min_delta: not more than it
        assert stopper.should_stop
        assert stopper.update(0.5, 4)         # better by 0.5
        assert stopper.waited == 0 and stopper.best_epoch == 4 and not stopper.should_stop

    def test_no_patience_never_stops_but_tracks_the_best(self):
        stopper = EarlyStopping(patience=None)
        stopper.update(1.0, 1)
        for epoch in range(2, 200):
            stopper.update(1.0 + epoch, epoch)
        assert not stopper.should_stop and stopper.best_epoch == 1

    @pytest.mark.parametrize("patience", [0, -1, 1.5, "3"])
    def test_bad_patience(self, patience):
        with pytest.raises(ValueError, match="patience must be a positive integer or None"):
            EarlyStopping(patience)

    def test_bad_min_delta(self):
        with pytest.raises(ValueError, match=r"min_delta must be in \[0, inf\)"):
            EarlyStopping(3, min_delta=-0.1)


def drifting_problem(val_target=0.5, lr=0.05):
    """A one-weight model whose validation loss first falls, then rises, by construction.

    Training pulls w from 0 towards 1 (full-batch SGD on (w·1 − 1)²): w_k = 1 − (1 − 2·lr)^k.
    Validation wants w = ``val_target``, so its loss is (w_k − val_target)².
    """
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    ones = np.ones((4, 1), np.float32)
    data = Dataset(ones, np.ones(4, np.float32), ones[:1], np.ones(1, np.float32),
                   x_val=ones[:2], y_val=np.full(2, val_target, np.float32))
    config = Config(optimizer="sgd", lr=lr, batch_size=4, epochs=50)
    weights = 1 - (1 - 2 * lr) ** np.arange(1, 51)
    return model, data, config, weights


def test_drifting_problem_is_what_it_says():
    model, data, config, weights = drifting_problem()
    history = fit(model, data, replace(config, epochs=12), progress=False)
    np.testing.assert_allclose(history.val_loss, (weights[:12] - 0.5) ** 2, atol=1e-6)
    assert int(np.argmin(history.val_loss)) + 1 == 7
    assert history.best_epoch == 7
    assert not history.stopped_early and history.epochs == 12


@pytest.mark.parametrize("patience", [1, 3, 5])
def test_fit_stops_patience_epochs_after_the_best(patience):
    model, data, config, weights = drifting_problem()
    history = fit(model, data, replace(config, patience=patience), progress=False)
    assert history.stopped_early
    assert history.best_epoch == 7
    assert history.epochs == 7 + patience
    assert len(history.val_loss) == len(history.train_loss) == 7 + patience
    # restored: the model holds the best epoch's weights, which are not the last epoch's
    assert torch.equal(model.weight, history.best_state["weight"])
    assert model.weight.item() == pytest.approx(weights[6], abs=1e-6)
    assert abs(model.weight.item() - weights[7 + patience - 1]) > 1e-3


def test_fit_without_restore_keeps_the_last_weights():
    model, data, config, weights = drifting_problem()
    history = fit(model, data, replace(config, patience=3, restore_best=False), progress=False)
    assert history.stopped_early and history.best_epoch == 7 and history.epochs == 10
    assert model.weight.item() == pytest.approx(weights[9], abs=1e-6)
    assert not torch.equal(model.weight, history.best_state["weight"])


def test_fit_min_delta():
    model, data, config, _ = drifting_problem()
    # improvements at epochs 2..6 exceed 0.005; epoch 7 improves by only 0.0005
    history = fit(model, data, replace(config, patience=3, min_delta=0.005), progress=False)
    assert history.best_epoch == 6 and history.epochs == 9 and history.stopped_early


def test_best_state_is_a_copy():
    model, data, config, weights = drifting_problem()
    history = fit(model, data, replace(config, epochs=10), progress=False)  # no early stopping: no restore
    assert history.best_epoch == 7
    assert history.best_state["weight"].item() == pytest.approx(weights[6], abs=1e-6)
    assert model.weight.item() == pytest.approx(weights[9], abs=1e-6)


def test_early_stopping_needs_a_validation_set_and_the_hint_names_a_real_function():
    import course_utils as cu

    data = Dataset(X, Y, X[:2], Y[:2])
    with pytest.raises(ValueError, match=r"early stopping \(patience\) needs a validation set: "
                                         r"use cu\.split_validation\(data\) first"):
        fit(linear_model(), data, Config(patience=3), progress=False)
    assert cu.split_validation(data).x_val is not None   # the hint works as written


def test_fit_never_reads_the_test_set():
    # a test set with the wrong number of features would crash any evaluation on it
    clean = make_regression()
    data = Dataset(clean.x_train, clean.y_train, np.ones((5, 7), np.float32), np.ones(5, np.float32),
                   x_val=clean.x_val, y_val=clean.y_val)
    config = Config(hidden=(8,), epochs=3, batch_size=10, patience=2)
    history = fit(build_model(config, 5, 1), data, config, progress=False)
    assert history.epochs >= 1 and len(history.val_loss) == history.epochs


def test_no_validation_set_records_train_only():
    data = make_classification()
    data = Dataset(data.x_train, data.y_train, data.x_test, data.y_test)
    config = Config(hidden=(8,), epochs=3, batch_size=20)
    history = fit(build_model(config, 8, 3), data, config, progress=False)
    assert len(history.train_acc) == 3 and history.val_loss == [] and history.best_epoch is None
    assert list(history.to_frame().columns) == ["train_loss", "train_acc"]


# ---------------------------------------------------------------- Ctrl-C

@pytest.fixture
def interrupt_on_call(monkeypatch):
    """Make training.train_epoch raise KeyboardInterrupt on its n-th call."""

    def install(n):
        real, calls = training.train_epoch, []

        def flaky(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(training, "train_epoch", flaky)
        return calls

    return install


def test_ctrl_c_keeps_the_history(interrupt_on_call, capsys):
    calls = interrupt_on_call(3)
    data = make_classification()
    config = Config(hidden=(8,), epochs=10, batch_size=20)
    history = fit(build_model(config, 8, 3), data, config, progress=False)
    assert history.interrupted and not history.stopped_early and not history.diverged
    assert history.epochs == 2 and len(history.val_acc) == 2
    assert len(calls) == 3
    assert "Training interrupted after 2 epoch(s): the history is kept" in capsys.readouterr().out
    assert "interrupted" in repr(history)


def test_ctrl_c_with_early_stopping_restores_the_best(interrupt_on_call, capsys):
    interrupt_on_call(3)
    # validation wants w = 0.1 = w_1, so epoch 1 is best and epoch 2 already worse
    model, data, config, weights = drifting_problem(val_target=0.1)
    history = fit(model, data, replace(config, patience=10), progress=False)
    assert history.interrupted and history.epochs == 2 and history.best_epoch == 1
    assert model.weight.item() == pytest.approx(weights[0], abs=1e-6)
    assert torch.equal(model.weight, history.best_state["weight"])
    assert "weights restored to the best epoch (1)" in capsys.readouterr().out


def test_ctrl_c_without_restore_keeps_the_last_weights(interrupt_on_call, capsys):
    interrupt_on_call(3)
    model, data, config, weights = drifting_problem(val_target=0.1)
    history = fit(model, data, replace(config, patience=10, restore_best=False), progress=False)
    assert history.interrupted and history.epochs == 2
    assert model.weight.item() == pytest.approx(weights[1], abs=1e-6)
    assert "restored" not in capsys.readouterr().out


# ---------------------------------------------------------------- divergence

@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_huge_learning_rate_diverges_without_raising(activation):
    data = make_regression(n_train=64)
    config = Config(hidden=(32,) * 6, activation=activation, optimizer="sgd", lr=100.0, batch_size=16, epochs=5)
    _, history = train(config, data)
    assert history.diverged
    assert history.epochs < 5
    assert "diverged" in repr(history)
    _, sane = train(replace(config, lr=1e-3), data)
    assert not sane.diverged and sane.epochs == 5


def test_divergence_on_the_last_step_is_reported():
    """One huge step: the only recorded training loss is not finite, so the run diverged."""
    data = make_regression(n_train=64)
    config = Config(hidden=(32,) * 4, optimizer="sgd", lr=1e6, batch_size=64, epochs=1)
    _, history = train(config, data)
    assert history.diverged
    assert all(math.isfinite(v) for v in history.train_loss)


def test_recorded_losses_are_finite_unless_diverged():
    data = make_regression(n_train=64)
    for lr in (10.0, 30.0, 1e3):
        config = Config(hidden=(32,) * 6, activation="tanh", optimizer="sgd", lr=lr, batch_size=16, epochs=4)
        _, history = train(config, data)
        assert all(math.isfinite(v) for v in history.train_loss)


# ---------------------------------------------------------------- reproducibility

@pytest.mark.parametrize("config, length", [
    (Config(hidden=(16, 16), dropout=0.3, input_noise=0.5, input_dropout=0.1, epochs=4, batch_size=16), None),
    (Config(model="cnn", hidden=(4, 4), dropout=0.2, input_noise=0.3, epochs=3, batch_size=16), 20),
    (Config(hidden=(16,), batch_norm=True, epochs=3, batch_size=16, optimizer="sgd", momentum=0.9, lr=0.05), None),
], ids=["mlp-dropout-noise", "cnn", "mlp-batchnorm"])
def test_same_seed_same_run(config, length):
    data = make_classification(length=length)
    n_inputs = data.x_train.shape[1]

    def run(seed, outside):
        model = build_model(replace(config, seed=seed), n_inputs, 3)
        torch.manual_seed(outside)  # the RNG state fit starts from must not matter
        np.random.seed(outside)
        return model, fit(model, data, replace(config, seed=seed), progress=False)

    (m1, h1), (m2, h2), (m3, h3) = run(0, outside=1), run(0, outside=2), run(1, outside=1)
    assert torch.equal(flat_parameters(m1), flat_parameters(m2))
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss and h1.val_acc == h2.val_acc
    assert not torch.equal(flat_parameters(m1), flat_parameters(m3))
    assert h1.train_loss != h3.train_loss


def test_seed_drives_dropout_and_batch_order_not_only_init():
    """Same initial weights, different config.seed in fit: the runs still differ."""
    data = make_classification()
    config = Config(hidden=(16,), dropout=0.3, epochs=2, batch_size=16)
    a, b = build_model(config, 8, 3), build_model(config, 8, 3)
    fit(a, data, config, progress=False)
    fit(b, data, replace(config, seed=5), progress=False)
    assert not torch.equal(flat_parameters(a), flat_parameters(b))


# ---------------------------------------------------------------- other behaviour of fit

def test_recorded_metrics_are_eval_mode_metrics_of_the_final_model():
    data = make_classification()
    config = Config(hidden=(32,), dropout=0.5, input_noise=0.5, epochs=3, batch_size=16)
    model, history = train(config, data, n_outputs=3)
    final = evaluate(model, data.x_train, data.y_train)
    assert history.train_loss[-1] == pytest.approx(final["loss"], rel=1e-6)
    assert history.train_acc[-1] == pytest.approx(final["acc"])
    assert history.val_acc[-1] == pytest.approx(evaluate(model, data.x_val, data.y_val)["acc"])


def test_batch_norm_skips_a_last_batch_of_one():
    data = make_classification(n_train=33)  # batches of 16, 16 and 1
    config = Config(hidden=(8,), batch_norm=True, epochs=2, batch_size=16)
    _, history = train(config, data, n_outputs=3)
    assert history.epochs == 2 and all(math.isfinite(v) for v in history.train_loss)


def test_classification_learns():
    # the engine reduces the loss on an easy problem; a broken update step would not
    data = make_classification(n_train=90)
    config = Config(hidden=(32,), epochs=30, batch_size=30, lr=0.01)
    _, history = train(config, data, n_outputs=3)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] > 0.8


def test_label_smoothing_is_for_classification_only():
    with pytest.raises(ValueError, match="label_smoothing applies to classification only"):
        fit(linear_model(), Dataset(X, Y, X[:2], Y[:2]), Config(label_smoothing=0.1), progress=False)


@pytest.mark.parametrize("model, data, config, message", [
    ("mlp", Dataset(X, Y, X, Y), Config(), "model must be a torch.nn.Module; got str"),
    (nn.Linear(3, 1), {"x_train": X}, Config(), "data must be a course_utils.data.Dataset; got dict"),
    (nn.Linear(3, 1), Dataset(X, Y, X, Y), {"lr": 0.1}, "config must be a course_utils.Config; got dict"),
])
def test_fit_argument_types(model, data, config, message):
    with pytest.raises(TypeError, match=message):
        fit(model, data, config, progress=False)


def test_history_frame_and_repr():
    history = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.75], val_loss=[1.1, 0.9], val_acc=[0.4, 0.6],
                      best_epoch=2)
    frame = history.to_frame()
    assert list(frame.index) == [1, 2] and frame.index.name == "epoch"
    assert frame.loc[2, "val_acc"] == 0.6
    assert repr(history) == "History(2 epochs, ran all epochs, best epoch 2)"


class TestPredictEvaluate:
    def test_predict_is_eval_mode_and_restores_the_mode(self):
        model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2)).train()
        first, second = predict(model, X), predict(model, X)
        assert isinstance(first, np.ndarray) and first.shape == (6, 2)
        np.testing.assert_array_equal(first, second)
        assert model.training

    def test_evaluate_regression_by_hand(self):
        model = linear_model()
        metrics = evaluate(model, X, Y)
        expected = np.mean((X.astype(np.float64) @ W0 + B0 - Y) ** 2)
        assert metrics["loss"] == pytest.approx(expected, rel=1e-6)
        assert math.isnan(metrics["acc"])

    def test_evaluate_classification_accuracy(self):
        model = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            model.weight.copy_(torch.eye(2))  # predicts the larger coordinate
        x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]], np.float32)
        y = np.array([0, 1, 1, 1])
        metrics = evaluate(model, x, y)
        assert metrics["acc"] == 0.75
        logits = torch.tensor(x)
        assert metrics["loss"] == pytest.approx(nn.functional.cross_entropy(logits, torch.tensor(y)).item())

    def test_evaluate_rejects_mismatched_lengths(self):
        with pytest.raises(ValueError, match="x has 6, y has 5"):
            evaluate(linear_model(), X, Y[:5])

    def test_predict_rejects_a_vector(self):
        with pytest.raises(ValueError, match=r"x must be 2-D or 3-D; got shape \(3,\)"):
            predict(linear_model(), X[0])


def test_epochs_to_reach_counts_from_one_and_bounds_runs_that_never_arrive():
    history = training.History(train_acc=[0.2, 0.5, 0.7], val_acc=[0.1, 0.4, 0.45], train_loss=[1, 1, 1])
    assert history.epochs_to_reach(0.4) == 2
    assert history.epochs_to_reach(0.5, metric="train_acc") == 2
    assert history.epochs_to_reach(0.9) == 4  # never reached: one more than it trained
    with pytest.raises(ValueError, match="metric must be 'train_acc' or 'val_acc'"):
        history.epochs_to_reach(0.5, metric="loss")


def test_a_notebooks_own_loop_shows_a_bar_exactly_when_fit_would(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "0")
    assert list(training.progress(range(3), desc="widths")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("COURSE_PROGRESS", "1")
    with training.progress(total=2, desc="fits", unit="fits") as bar:
        bar.update(2)
    assert "fits: 2/2 fits" in capsys.readouterr().err
