"""sweep: configurations × seeds, its table, summary and values, labels, errors and Ctrl-C."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import count_members, make_classification
from course_utils import Config, Dataset, build_model, evaluate, fit, sweep
from course_utils import training
from course_utils.augment import RandomShift, with_augmentation
from course_utils.sweep import SweepResult

BASE = Config(hidden=(8,), epochs=2, batch_size=20, lr=0.01)


@pytest.fixture(scope="module")
def result() -> SweepResult:
    data = make_classification()
    configs = {"plain": BASE, "dropout": replace(BASE, dropout=0.5), "L2": replace(BASE, l2=0.01)}
    return sweep(configs, data, seeds=(0, 1, 2), progress=False)


def test_one_row_per_config_and_seed(result):
    table = result.table
    assert len(table) == 9 == len(result.histories) == len(result.models)
    assert table["label"].tolist() == ["plain"] * 3 + ["dropout"] * 3 + ["L2"] * 3
    assert table["seed"].tolist() == [0, 1, 2] * 3
    assert table["dropout"].tolist() == [0.0] * 3 + [0.5] * 3 + [0.0] * 3
    assert table["l2"].tolist() == [0.0] * 6 + [0.01] * 3
    assert not result.interrupted


def test_only_varying_fields_become_columns(result):
    assert {"dropout", "l2"} <= set(result.table.columns)
    assert not {"lr", "hidden", "optimizer", "weight_decay"} & set(result.table.columns)


def test_gap_is_train_minus_validation_accuracy(result):
    table = result.table
    np.testing.assert_allclose(table["gap"], table["train_acc"] - table["val_acc"])
    assert {"train_loss", "val_loss", "test_loss", "test_acc", "epochs", "best_epoch", "diverged"} <= set(table)


def test_rows_follow_models_and_histories(result):
    data = make_classification()
    for i, row in result.table.iterrows():
        model, history = result.models[i], result.histories[i]
        assert row["epochs"] == history.epochs == 2
        assert row["val_acc"] == pytest.approx(evaluate(model, data.x_val, data.y_val)["acc"])
        assert row["test_acc"] == pytest.approx(evaluate(model, data.x_test, data.y_test)["acc"])
        assert row["val_acc"] == pytest.approx(history.val_acc[-1])


def test_each_run_is_the_fit_of_its_config_and_seed(result):
    data = make_classification()
    run = replace(BASE, dropout=0.5, seed=1)
    model = build_model(run, 8, 3)
    history = fit(model, data, run, progress=False)
    row = result.table.iloc[4]
    assert (row["label"], row["seed"]) == ("dropout", 1)
    assert row["val_loss"] == pytest.approx(history.val_loss[-1], rel=1e-5)
    assert row["train_acc"] == pytest.approx(history.train_acc[-1])


def test_seeds_give_different_runs(result):
    assert result.table.loc[result.table["label"] == "plain", "val_loss"].nunique() == 3


def test_summary(result):
    summary = result.summary()
    assert list(summary.index) == ["plain", "dropout", "L2"]
    assert list(summary.columns) == [(m, s) for m in ("train_acc", "val_acc", "test_acc", "gap")
                                     for s in ("mean", "std")]
    dropout = result.table[result.table["label"] == "dropout"]
    assert summary.loc["dropout", ("val_acc", "mean")] == pytest.approx(dropout["val_acc"].mean())
    assert summary.loc["dropout", ("gap", "std")] == pytest.approx(dropout["gap"].std(ddof=1))


def test_summary_by_other_columns_and_metrics(result):
    summary = result.summary(by=["dropout", "l2"], metrics=("val_loss",))
    assert list(summary.columns) == [("val_loss", "mean"), ("val_loss", "std")]
    assert len(summary) == 3


def test_summary_errors(result):
    with pytest.raises(ValueError, match="unknown column 'optimizer'; the table has label, dropout, l2, seed"):
        result.summary(by="optimizer")
    with pytest.raises(ValueError, match="unknown metric 'val_accuracy'; the table has"):
        result.summary(metrics=["val_acc", "val_accuracy"])


def test_values(result):
    values = result.values("val_acc", label="L2")
    assert isinstance(values, np.ndarray) and len(values) == 3
    np.testing.assert_array_equal(values, result.table["val_acc"].to_numpy()[6:])
    assert len(result.values("gap")) == 9
    assert result.values("val_acc", label="plain", seed=2) == pytest.approx([result.table["val_acc"][2]])


def test_values_errors(result):
    with pytest.raises(ValueError, match="unknown metric 'accuracy'; the table has label, dropout"):
        result.values("accuracy")
    with pytest.raises(ValueError, match="unknown column 'name'; the table has"):
        result.values("val_acc", name="L2")
    with pytest.raises(ValueError, match=r"no rows match \{'label': 'L1'\}"):
        result.values("val_acc", label="L1")


class TestLabels:
    data = make_classification(n_train=30, n_val=15, n_test=15)

    def test_auto_labels_name_the_varying_field(self):
        out = sweep([replace(BASE, dropout=p) for p in (0.0, 0.25)], self.data, seeds=[0], progress=False)
        assert out.table["label"].tolist() == ["dropout=0.0", "dropout=0.25"]

    def test_auto_labels_with_two_varying_fields(self):
        configs = [BASE, replace(BASE, dropout=0.25, l1=0.001)]
        out = sweep(configs, self.data, seeds=[0], progress=False)
        assert out.table["label"].tolist() == ["dropout=0.0, l1=0.0", "dropout=0.25, l1=0.001"]

    def test_single_config(self):
        out = sweep(BASE, self.data, seeds=[3, 4], progress=False)
        assert out.table["label"].tolist() == ["base", "base"]
        assert out.table["seed"].tolist() == [3, 4]

    def test_configurations_that_differ_only_in_their_seed_are_refused(self):
        with pytest.raises(ValueError, match="configurations 0 and 2 differ at most in their seed"):
            sweep([BASE, replace(BASE, dropout=0.25), replace(BASE, seed=7)], self.data, progress=False)
        with pytest.raises(ValueError, match="configurations 0 and 1 differ at most in their seed"):
            sweep({"a": BASE, "b": BASE}, self.data, progress=False)

    def test_numpy_seeds(self):
        out = sweep(BASE, self.data, seeds=np.arange(2), progress=False)
        assert out.table["seed"].tolist() == [0, 1]


def test_gap_without_validation_uses_the_test_set():
    full = make_classification(n_train=30, n_val=15, n_test=15)
    data = Dataset(full.x_train, full.y_train, full.x_test, full.y_test)
    out = sweep(BASE, data, seeds=[0], progress=False)
    assert "val_acc" not in out.table
    np.testing.assert_allclose(out.table["gap"], out.table["train_acc"] - out.table["test_acc"])
    assert list(out.summary().columns.get_level_values(0).unique()) == ["train_acc", "test_acc", "gap"]


def test_cnn_on_sequences_with_a_channel_axis():
    flat = make_classification(n_train=30, n_val=15, n_test=15, length=20)
    data = Dataset(flat.x_train[:, None, :], flat.y_train, flat.x_test[:, None, :], flat.y_test,
                   x_val=flat.x_val[:, None, :], y_val=flat.y_val)
    out = sweep(Config(model="cnn", hidden=(4,), epochs=1, batch_size=15), data, seeds=[0], progress=False)
    assert out.models[0].readout.in_features == 4 * 10  # length 20 after one stride-2 conv


@pytest.mark.parametrize("configs, seeds, error, message", [
    ([], (0,), ValueError, "configs is empty"),
    ({}, (0,), ValueError, "configs is empty"),
    ([BASE, {"lr": 0.1}], (0,), TypeError, "every configuration must be a course_utils.Config; got dict"),
    (BASE, (), ValueError, "seeds must be a non-empty list of non-negative integers"),
    (BASE, (0, -1), ValueError, r"seeds must be .*; got \[0, -1\]"),
    (BASE, (0.5,), ValueError, "seeds must be a non-empty list of non-negative integers"),
    (BASE, (0, 1, 0), ValueError, "seeds must not repeat"),
])
def test_bad_arguments(configs, seeds, error, message):
    with pytest.raises(error, match=message):
        sweep(configs, make_classification(n_train=30), seeds=seeds, progress=False)


def test_data_must_be_a_dataset():
    with pytest.raises(TypeError, match="data must be a course_utils.data.Dataset, or Draws .*; got tuple"):
        sweep(BASE, (np.zeros((4, 2)), np.zeros(4)), progress=False)
    with pytest.raises(TypeError, match=r"data\(0\) must return a course_utils.data.Dataset; got tuple"):
        sweep(BASE, lambda r: (np.zeros((4, 2)), np.zeros(4)), progress=False)


def blobs_draw(replicate: int) -> Dataset:
    """Replicate r's data: blobs sampled with seed r."""
    return make_classification(seed=replicate)


def series_draw(replicate: int) -> Dataset:
    """Replicate r's data: short sequences (for the CNN as for the MLP) sampled with seed r."""
    return make_classification(seed=replicate, length=12)


@pytest.mark.parametrize("batched", [True, False])
def test_each_replicate_trains_on_its_own_draw_with_its_own_seed(batched):
    configs = {"plain": BASE, "l2": replace(BASE, l2=1e-2)}
    result = sweep(configs, blobs_draw, seeds=(0, 3), progress=False, batched=batched)
    assert result.table["seed"].tolist() == [0, 3, 0, 3]
    for i, row in result.table.iterrows():
        run = replace(configs[row["label"]], seed=row["seed"])
        data = blobs_draw(row["seed"])
        model = build_model(run, 8, 3)
        fit(model, data, run, progress=False)
        for split in ("train", "val", "test"):
            expected = evaluate(model, getattr(data, f"x_{split}"), getattr(data, f"y_{split}"))
            assert row[f"{split}_acc"] == pytest.approx(expected["acc"], abs=1e-6), (i, split)
            assert row[f"{split}_loss"] == pytest.approx(expected["loss"], abs=1e-4), (i, split)


def test_difference_pairs_configurations_on_their_replicates():
    result = sweep({"plain": BASE, "l2": replace(BASE, l2=1e-2)}, blobs_draw, seeds=(4, 1, 2), progress=False)
    table = result.table
    expected = [table[(table.label == "l2") & (table.seed == s)]["val_acc"].item()
                - table[(table.label == "plain") & (table.seed == s)]["val_acc"].item() for s in (1, 2, 4)]
    np.testing.assert_allclose(result.difference("val_acc", "l2", "plain"), expected)
    np.testing.assert_allclose(result.values("val_acc", label="l2") - result.values("val_acc", label="plain"),
                               expected)   # values come sorted by replicate, so they pair too


def test_difference_errors(result):
    with pytest.raises(ValueError, match="no rows with label == 'L1'"):
        result.difference("val_acc", "L1", "plain")
    with pytest.raises(ValueError, match="unknown column 'size'"):
        result.difference("val_acc", "L2", "plain", by="size")
    partial = SweepResult(result.table[~((result.table.label == "L2") & (result.table.seed == 2))],
                          [], [])
    with pytest.raises(ValueError, match="were not run on the same replicates"):
        partial.difference("val_acc", "L2", "plain")


@pytest.mark.parametrize("interrupt_at", [5, 6])  # the first or the second epoch of the third run
def test_ctrl_c_keeps_finished_runs(monkeypatch, capsys, interrupt_at):
    real, calls = training.train_epoch, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", flaky)
    configs = [BASE, replace(BASE, dropout=0.5)]  # 2 epochs per run: runs 1 and 2 use calls 1-4
    out = sweep(configs, make_classification(n_train=30), seeds=(0, 1), progress=False, batched=False)
    assert out.interrupted
    cut_short = interrupt_at == 6   # the third run had trained one epoch: it is kept, marked
    assert len(out.table) == len(out.histories) == len(out.models) == 2 + cut_short
    assert out.table["seed"].tolist()[:2] == [0, 1] and out.table["dropout"].tolist()[:2] == [0.0, 0.0]
    assert out.table["interrupted"].tolist() == [False, False] + [True] * cut_short
    assert [h.interrupted for h in out.histories] == [False, False] + [True] * cut_short
    printed = capsys.readouterr().out
    assert f"Sweep interrupted: 2 finished run(s) and {int(cut_short)} cut short are kept" in printed


def test_model_fn_builds_each_run():
    """A custom builder is called with each run's config (seed included) and its model is trained."""
    data = make_classification()
    seen = []

    def wider(config, n_inputs, n_outputs):
        seen.append(config.seed)
        return build_model(replace(config, hidden=(24,)), n_inputs, n_outputs)

    out = sweep([Config(hidden=(8,), epochs=2)], data, seeds=[3, 4], progress=False, model_fn=wider)
    assert seen == [3, 4]
    assert all(m[0].out_features == 24 for m in (list(model.children())[1:2] for model in out.models))


def residual(config, n_inputs, n_outputs):
    """A network the course does not define: ordinary torch layers with a skip connection."""
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.hidden, self.out = (torch.nn.Linear(n_inputs, 8), torch.nn.Linear(8, 8),
                                                 torch.nn.Linear(8, n_outputs))

        def forward(self, x):
            h = self.inner(x).relu()
            return self.out(h + self.hidden(h).relu())
    torch.manual_seed(config.seed)
    return Residual()


def test_a_custom_model_fn_trains_stacked_and_matches_one_fit_per_run(monkeypatch):
    data = make_classification()
    calls = count_members(monkeypatch)
    configs = {"plain": BASE, "l2": replace(BASE, l2=1e-2)}
    together = sweep(configs, data, seeds=(0, 1, 2), progress=False, model_fn=residual)
    alone = sweep(configs, data, seeds=(0, 1, 2), progress=False, model_fn=residual, batched=False)
    assert calls == {"batched": [], "stacked": [6]}
    for column in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"):
        np.testing.assert_allclose(together.table[column], alone.table[column], atol=1e-4, err_msg=column)


def test_a_custom_model_fn_stacks_runs_of_different_replicates_each_on_its_own_draw(monkeypatch):
    calls = count_members(monkeypatch)
    together = sweep({"plain": BASE}, blobs_draw, seeds=(0, 3, 5), progress=False, model_fn=residual)
    alone = sweep({"plain": BASE}, blobs_draw, seeds=(0, 3, 5), progress=False, model_fn=residual, batched=False)
    assert calls == {"batched": [], "stacked": [3]}   # one stack for the three replicates
    for column in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"):
        np.testing.assert_allclose(together.table[column], alone.table[column], atol=1e-4, err_msg=column)


@pytest.mark.parametrize("model_fn", [build_model, with_augmentation(RandomShift(1))])
def test_one_configuration_on_many_replicates_trains_them_together(monkeypatch, model_fn):
    calls = count_members(monkeypatch)
    config = replace(BASE, dropout=0.3)
    together = sweep([config], blobs_draw, seeds=(0, 3, 5), progress=False, model_fn=model_fn)
    alone = sweep([config], blobs_draw, seeds=(0, 3, 5), progress=False, model_fn=model_fn, batched=False)
    assert calls == {"batched": [3], "stacked": []}
    for column in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"):
        np.testing.assert_allclose(together.table[column], alone.table[column], atol=1e-4, err_msg=column)


def test_in_a_sweep_over_replicates_the_runs_of_every_replicate_train_together(monkeypatch):
    """The MLPs' runs in one batch, the CNN's in one stack; each member on its own replicate's data."""
    calls = count_members(monkeypatch)
    configs = {"mlp": BASE, "mlp, decayed": replace(BASE, weight_decay=0.01),
               "cnn": Config(model="cnn", hidden=(3,), epochs=2, batch_size=16, lr=0.01)}
    together = sweep(configs, series_draw, seeds=(0, 3, 5), progress=False)
    alone = sweep(configs, series_draw, seeds=(0, 3, 5), progress=False, batched=False)
    assert calls == {"batched": [6], "stacked": [3]}
    for column in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"):
        np.testing.assert_allclose(together.table[column], alone.table[column], atol=1e-4, err_msg=column)


def test_replicates_of_different_sizes_train_apart(monkeypatch):
    calls = count_members(monkeypatch)
    sizes = {0: 40, 3: 50, 5: 40}
    together = sweep([BASE, replace(BASE, lr=0.05)], lambda s: make_classification(seed=s, n_train=sizes[s]),
                     seeds=(0, 3, 5),
                     progress=False)
    assert calls == {"batched": [2, 2, 2], "stacked": []}
    assert len(together.table) == 6


def test_a_model_fn_vmap_cannot_run_says_how_to_train_it_alone():
    class Branchy(torch.nn.Module):   # data-dependent control flow: vmap cannot batch it
        def __init__(self, n_inputs, n_outputs):
            super().__init__()
            self.layer = torch.nn.Linear(n_inputs, n_outputs)

        def forward(self, x):
            return self.layer(x) if x.sum().item() > -1e9 else -self.layer(x)

    def branchy(config, n_inputs, n_outputs):
        torch.manual_seed(config.seed)
        return Branchy(n_inputs, n_outputs)
    data = make_classification()
    with pytest.raises(RuntimeError, match="pass batched=False"):
        sweep([BASE], data, seeds=(0, 1), progress=False, model_fn=branchy)
    assert len(sweep([BASE], data, seeds=(0, 1), progress=False, model_fn=branchy, batched=False).table) == 2


def test_without_validation_tracking_final_metrics_are_still_reported():
    data = make_classification()
    config = Config(hidden=(8,), epochs=3)
    tracked = sweep([config], data, seeds=[0], progress=False)
    untracked = sweep([config], data, seeds=[0], progress=False, track_validation=False)
    assert untracked.histories[0].val_loss == [] and len(tracked.histories[0].val_loss) == 3
    assert untracked.table["val_acc"].iloc[0] == pytest.approx(tracked.table["val_acc"].iloc[0], abs=1e-6)
    with pytest.raises(ValueError, match="track_validation=True"):
        sweep([replace(config, patience=2)], data, seeds=[0], progress=False, track_validation=False)


def test_batched_sweep_matches_one_fit_per_run():
    """Runs that share an architecture train as one stacked model; each matches its own fit."""
    data = make_classification()
    configs = {"plain": BASE, "l2": replace(BASE, l2=1e-2), "wider": replace(BASE, hidden=(12,)),
               "sgd": replace(BASE, optimizer="sgd", lr=0.1)}
    together = sweep(configs, data, seeds=(0, 1), progress=False)
    alone = sweep(configs, data, seeds=(0, 1), progress=False, batched=False)
    assert together.table[["label", "seed"]].equals(alone.table[["label", "seed"]])
    for column in ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"):
        np.testing.assert_allclose(together.table[column], alone.table[column], atol=1e-4, err_msg=column)


@pytest.mark.parametrize("batched", [True, False])
def test_the_progress_bar_counts_every_runs_epochs(batched, capsys):
    data = make_classification()
    configs = {"plain": BASE, "wider": replace(BASE, hidden=(12,), epochs=3)}
    sweep(configs, data, seeds=(0, 1), batched=batched, progress=True)
    last = capsys.readouterr().err.split("\r")[-1]
    total = 2 * BASE.epochs + 2 * 3
    assert last.startswith(f"sweep of 4 runs: {total}/{total} epochs"), last


def test_ctrl_c_in_a_batched_group_keeps_the_groups_already_finished(monkeypatch, capsys):
    from course_utils import members
    real = members.Members.train_epoch

    def flaky(self):
        if self.shared.hidden == (12,):  # the second group's first epoch, in whichever worker
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(members.Members, "train_epoch", flaky)
    configs = [BASE, replace(BASE, hidden=(12,))]  # two architectures: two groups of two seeds
    out = sweep(configs, make_classification(), seeds=(0, 1), progress=False)
    assert out.interrupted and len(out.table) == 2 and out.table["hidden"].tolist() == [BASE.hidden] * 2
    assert out.table["interrupted"].tolist() == [False, False]   # the cut group had not trained an epoch
    assert "Sweep interrupted: 2 finished run(s) and 0 cut short are kept" in capsys.readouterr().out


def test_ctrl_c_keeps_the_runs_it_cut_short_with_what_they_learned(monkeypatch, capsys):
    from course_utils import members
    real, epochs = members.Members.train_epoch, []

    def flaky(self):
        epochs.append(1)
        if len(epochs) == 3:   # the third epoch of the only group
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(members.Members, "train_epoch", flaky)
    monkeypatch.setattr(members, "usable_cores", lambda: 1)   # one chunk: the cut lands on one known epoch
    out = sweep(replace(BASE, epochs=5), make_classification(), seeds=(0, 1), progress=False)
    assert out.interrupted and out.table["interrupted"].tolist() == [True, True]
    assert out.table["epochs"].tolist() == [2, 2] and all(h.interrupted for h in out.histories)
    assert "0 finished run(s) and 2 cut short are kept" in capsys.readouterr().out


def test_progress_by_default_unless_the_environment_turns_it_off(monkeypatch, capsys):
    data = make_classification(n_train=30)
    monkeypatch.setenv("COURSE_PROGRESS", "1")
    sweep(BASE, data, seeds=(0,))
    assert "sweep of 1 runs" in capsys.readouterr().err
    monkeypatch.setenv("COURSE_PROGRESS", "0")   # stored and tested executions: no bar snapshots
    sweep(BASE, data, seeds=(0,))
    assert capsys.readouterr().err == ""
    sweep(BASE, data, seeds=(0,), progress=True)   # an explicit choice wins
    assert "sweep of 1 runs" in capsys.readouterr().err
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        sweep(BASE, data, seeds=(0,), progress="yes")


@pytest.mark.parametrize("batched", [True, False])
def test_a_run_that_diverges_at_its_first_step_keeps_its_row(batched):
    """Every replicate stays in the table: a divergence is a result, not a missing run."""
    data = make_classification()
    huge = replace(BASE, optimizer="sgd", lr=1e12)
    result = sweep({"sane": BASE, "huge": huge}, data, seeds=(0, 1), progress=False, batched=batched)
    table = result.table
    assert table["label"].tolist() == ["sane", "sane", "huge", "huge"]
    assert table[table.label == "huge"]["diverged"].all() and not table[table.label == "sane"]["diverged"].any()
