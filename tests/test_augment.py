"""The augmentation layers: identity in eval, shapes, per-sample randomness, exact geometry, validation."""
from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
import torch
from torch import nn

from conftest import count_members
import course_utils as cu
from course_utils.augment import (Compose, Cutout, GaussianNoise, RandomFlip, RandomImageShift, RandomRotation,
                                  RandomScale, RandomShift, affine_images, can_transform, flip_images, shift,
                                  with_augmentation)
from course_utils.members import train_members

sweep_module = importlib.import_module("course_utils.sweep")   # the package exports the function sweep

LAYERS = [lambda: RandomShift(3), lambda: RandomShift(3, mode="zeros"), lambda: RandomScale(0.5, 1.5),
          lambda: GaussianNoise(0.3), lambda: Compose(RandomShift(2), RandomScale(0.9, 1.1))]
IMAGE_LAYERS = [lambda: RandomImageShift((8, 8), 1), lambda: RandomRotation((8, 8), 15),
                lambda: RandomFlip((8, 8), 0.5), lambda: Cutout((8, 8), 3), lambda: Cutout((8, 8), 4, p=0.5)]


@pytest.mark.parametrize("make", LAYERS + IMAGE_LAYERS)
def test_transform_with_a_generator_draws_what_forward_draws_from_the_same_seed(make):
    layer, x = make().train(), torch.rand(32, 64)
    torch.manual_seed(7)
    expected = layer(x)
    assert torch.equal(layer.transform(x, torch.Generator().manual_seed(7)), expected)


@pytest.mark.parametrize("make", LAYERS + IMAGE_LAYERS)
def test_identity_in_eval_mode_and_shape_kept_in_training(make):
    layer = make()
    x = torch.rand(32, 64)
    assert layer.eval()(x) is x
    out = layer.train()(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)


@pytest.mark.parametrize("make", LAYERS)
def test_sequence_layers_accept_a_channel_axis(make):
    x = torch.rand(16, 1, 40)
    assert make().train()(x).shape == (16, 1, 40)


def test_image_layers_accept_image_tensors():
    x = torch.rand(5, 1, 8, 8)
    for make in IMAGE_LAYERS:
        assert make().train()(x).shape == x.shape


def test_shift_matches_torch_roll_per_sample_and_fills_zeros():
    x = torch.randn(6, 40)
    shifts = torch.tensor([0, 1, -1, 5, -7, 39])
    rolled = torch.stack([torch.roll(row, int(s)) for row, s in zip(x, shifts)])
    assert torch.equal(shift(x, shifts), rolled)
    padded = shift(x, shifts, mode="zeros")
    for row, s, out in zip(x, shifts.tolist(), padded):
        expected = torch.zeros(40)
        if s >= 0:
            expected[s:] = row[:40 - s]
        else:
            expected[:s] = row[-s:]
        assert torch.equal(out, expected)


def test_shift_of_a_one_hot_sequence_moves_the_peak_by_the_drawn_amount():
    torch.manual_seed(0)
    x = torch.zeros(200, 40)
    x[:, 20] = 1.0
    torch.manual_seed(1)
    out = RandomShift(5, mode="zeros").train()(x)
    torch.manual_seed(1)
    drawn = torch.randint(-5, 6, (200,))   # the layer's one draw from the same stream
    assert torch.equal(out.argmax(1), 20 + drawn)
    assert torch.equal(out.sum(1), torch.ones(200))


def test_random_shift_draws_a_different_shift_per_sample_over_the_whole_range():
    x = torch.zeros(500, 40)
    x[:, 20] = 1.0
    peaks = RandomShift(3).train()(x).argmax(1) - 20
    assert set(peaks.tolist()) == {-3, -2, -1, 0, 1, 2, 3}


def test_random_scale_is_per_sample_and_within_its_range():
    x = torch.ones(1000, 40)
    out = RandomScale(0.5, 2.0).train()(x)
    factors = out[:, 0]
    assert torch.equal(out, factors.view(-1, 1).expand_as(out))   # one factor per sample
    assert factors.min() >= 0.5 and factors.max() <= 2.0 and factors.std() > 0.3


def test_probability_p_applies_the_transform_to_that_fraction_of_samples():
    x = torch.zeros(4000, 40)
    x[:, 20] = 1.0
    moved = (RandomShift(3, p=0.25).train()(x).argmax(1) != 20).double().mean()
    assert abs(float(moved) - 0.25 * 6 / 7) < 0.03   # a drawn shift of 0 also leaves it in place
    assert torch.equal(RandomShift(3, p=0.0).train()(x), x)
    images = torch.arange(64.0).repeat(4000, 1)
    changed = (RandomFlip((8, 8), p=0.3).train()(images) != images).any(1).double().mean()
    assert abs(float(changed) - 0.3) < 0.03


def test_rotation_by_zero_is_the_identity_and_by_ninety_matches_rot90():
    x = torch.rand(10, 64)
    torch.testing.assert_close(affine_images(x, (8, 8), degrees=torch.zeros(10)), x, rtol=0, atol=1e-6)
    quarter = affine_images(x, (8, 8), degrees=torch.full((10,), 90.0))
    expected = torch.rot90(x.view(10, 8, 8), 1, (1, 2)).reshape(10, 64)   # anticlockwise as displayed
    torch.testing.assert_close(quarter, expected, rtol=0, atol=1e-5)


def test_integer_image_shifts_move_pixels_exactly():
    x = torch.rand(3, 64)
    moved = affine_images(x, (8, 8), shifts=torch.tensor([[1, 0], [0, -1], [2, 3]]))
    images, out = x.view(3, 8, 8), moved.view(3, 8, 8)
    torch.testing.assert_close(out[0, 1:], images[0, :-1], rtol=0, atol=1e-6)   # down by one
    torch.testing.assert_close(out[0, 0], torch.zeros(8), rtol=0, atol=1e-6)
    torch.testing.assert_close(out[1, :, :-1], images[1, :, 1:], rtol=0, atol=1e-6)   # left by one
    torch.testing.assert_close(out[2, 2:, 3:], images[2, :-2, :-3], rtol=0, atol=1e-6)


def test_rotation_keeps_rectangular_images_in_proportion():
    x = torch.arange(48.0).view(1, 48)
    out = affine_images(x, (6, 8), degrees=torch.tensor([90.0])).view(6, 8)
    # the 6-pixel-high picture turned on its side: its first row runs up column 1
    torch.testing.assert_close(out[:, 1].flip(0), torch.arange(1.0, 7.0), rtol=0, atol=1e-4)


def test_flip_twice_is_the_identity_and_flip_mirrors_rows():
    x = torch.rand(7, 64)
    assert torch.equal(flip_images(flip_images(x, (8, 8)), (8, 8)), x)
    assert torch.equal(flip_images(x, (8, 8)).view(7, 8, 8), x.view(7, 8, 8).flip(-1))


def test_random_rotation_and_image_shift_differ_per_sample():
    x = torch.rand(1, 64).repeat(50, 1)
    for layer in (RandomRotation((8, 8), 15), RandomImageShift((8, 8), 1)):
        out = layer.train()(x)
        assert len(torch.unique(out, dim=0)) > 5


@pytest.mark.parametrize("make", LAYERS + IMAGE_LAYERS)
def test_reproducible_under_manual_seed(make):
    x = torch.rand(20, 64)
    torch.manual_seed(4)
    first = make().train()(x)
    torch.manual_seed(4)
    assert torch.equal(make().train()(x), first)


def test_compose_applies_in_order_and_passes_the_mode_on():
    composed = Compose(RandomShift(2), RandomScale(0.5, 0.5))
    x = torch.ones(4, 10)
    assert torch.equal(composed.train()(x), 0.5 * x)
    assert composed.eval()(x) is x
    with pytest.raises(TypeError, match="nn.Module"):
        Compose(RandomShift(1), lambda t: t)


@pytest.mark.parametrize("make, message", [
    (lambda: RandomShift(-1), "max_shift must be an integer >= 0"),
    (lambda: RandomShift(1.5), "max_shift must be an integer"),
    (lambda: RandomShift(True), "max_shift must be an integer"),
    (lambda: RandomShift(2, mode="reflect"), "mode must be one of"),
    (lambda: RandomShift(2, p=1.5), r"p must be in \[0, 1\]"),
    (lambda: RandomShift(2, p=-0.1), r"p must be in \[0, 1\]"),
    (lambda: RandomScale(0.0, 1.0), "low must be in"),
    (lambda: RandomScale(1.2, 0.8), "high must be in"),
    (lambda: RandomScale(0.8, 1.2, p=2), r"p must be in \[0, 1\]"),
    (lambda: RandomImageShift((8, 8), -1), "max_shift must be an integer >= 0"),
    (lambda: RandomImageShift((8,), 1), "image_shape must be"),
    (lambda: RandomRotation((8, 8), 200), "max_degrees must be in"),
    (lambda: RandomRotation((8, 8), float("nan")), "max_degrees must be a finite number"),
    (lambda: RandomFlip((8, 8), p=1.1), r"p must be in \[0, 1\]"),
    (lambda: RandomFlip((0, 8)), "image height must be an integer >= 1"),
])
def test_constructors_validate_their_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_functions_validate_their_inputs():
    x = torch.rand(4, 40)
    with pytest.raises(TypeError, match="torch.Tensor"):
        shift(x.numpy(), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="one shift per sample"):
        shift(x, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="one shift per sample"):
        shift(x, torch.zeros(4))
    with pytest.raises(ValueError, match="batch axis"):
        shift(torch.rand(40), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="8×8 images"):
        affine_images(torch.rand(4, 40), (8, 8))
    with pytest.raises(ValueError, match="one angle per image"):
        affine_images(torch.rand(4, 64), (8, 8), degrees=torch.zeros(3))
    with pytest.raises(ValueError, match="one \\(down, right\\) shift"):
        affine_images(torch.rand(4, 64), (8, 8), shifts=torch.zeros(4))
    with pytest.raises(ValueError, match="8×8 images"):
        RandomFlip((8, 8)).train()(torch.rand(4, 40))


@pytest.fixture(scope="module")
def tiny():
    data = cu.split_validation(cu.load_mnist1d(), fraction=0.2, seed=0)
    return cu.subsample(data, n_train=100, seed=0)


def test_augmentation_inside_fit_sees_training_batches_only(tiny):
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append((self.training, len(x)))
            return x

    config = cu.Config(hidden=(8,), epochs=2, batch_size=50)
    model = nn.Sequential(Spy(), cu.build_model(config, 40, 10))
    cu.fit(model, tiny, config, progress=False)
    assert {n for training, n in seen if training} == {50}   # only the training batches, in training mode
    assert all(not training for training, n in seen if n != 50)   # every evaluation is in eval mode


def test_augmented_model_predicts_like_its_network_in_eval_mode(tiny):
    config = cu.Config(hidden=(8,), epochs=1)
    network = cu.build_model(config, 40, 10)
    model = nn.Sequential(RandomShift(4), network)
    cu.fit(model, tiny, config, progress=False)
    np.testing.assert_array_equal(cu.predict(model, tiny.x_val), cu.predict(network, tiny.x_val))


def test_with_augmentation_builds_layer_then_network():
    config = cu.Config(hidden=(8,), seed=3)
    layer = RandomShift(2)
    model = with_augmentation(layer)(config, 40, 10)
    assert isinstance(model, nn.Sequential) and len(model) == 2
    assert isinstance(model[0], RandomShift) and model[0] is not layer   # each run gets its own copy
    assert model[0].max_shift == 2
    network = cu.build_model(config, 40, 10)                            # same seed, same initial weights
    for ours, theirs in zip(model[1].parameters(), network.parameters()):
        assert torch.equal(ours, theirs)
    plain = with_augmentation(None)(config, 40, 10)
    assert not isinstance(plain[0], RandomShift)
    assert str(plain) == str(network)


def test_with_augmentation_in_a_sweep(tiny):
    base = cu.Config(hidden=(8,), epochs=2)
    configs = {"plain": base, "l2": dataclasses.replace(base, l2=0.01)}
    run = lambda layer: cu.sweep(configs, tiny, seeds=[0, 1], progress=False, model_fn=with_augmentation(layer),
                                 track_validation=False)
    result = run(RandomShift(2))
    table = result.table
    assert list(table["label"]) == ["plain", "plain", "l2", "l2"] and len(result.models) == 4
    assert all(isinstance(model[0], RandomShift) for model in result.models)
    assert {"train_acc", "val_acc", "test_acc", "gap", "epochs"} <= set(table.columns)
    np.testing.assert_allclose(table["gap"], table["train_acc"] - table["val_acc"])
    assert result.histories[0].val_loss == []   # validation measured once, after training
    np.testing.assert_array_equal(run(RandomShift(2)).table["val_acc"], table["val_acc"])
    plain = run(None).table
    assert not np.array_equal(plain["train_acc"], table["train_acc"])   # the shifts changed training


def test_a_sweep_with_course_augmentation_is_batched_and_matches_fit(tiny, monkeypatch):
    configs = {"plain": cu.Config(hidden=(8,), epochs=2), "dropout": cu.Config(hidden=(8,), epochs=2, dropout=0.2)}
    layer = Compose(RandomShift(2), GaussianNoise(0.1))
    batched_calls = []
    monkeypatch.setattr(sweep_module, "train_members",
                        lambda *args, **kwargs: batched_calls.append(kwargs) or train_members(*args, **kwargs))
    layered = count_members(monkeypatch)["batched"]
    batched = cu.sweep(configs, tiny, seeds=[0, 1], progress=False, model_fn=with_augmentation(layer))
    assert len(batched_calls) == 1 and batched_calls[0]["augmentation"] is layer   # one group of four runs
    assert layered == [4], "the four runs train together, by batched.py's layer rules"
    alone = cu.sweep(configs, tiny, seeds=[0, 1], progress=False, model_fn=with_augmentation(layer), batched=False)
    assert len(batched_calls) == 1
    for column in ("train_acc", "val_acc", "test_acc"):
        np.testing.assert_allclose(batched.table[column], alone.table[column], atol=1e-6)


def test_a_sweep_with_a_layer_of_ones_own_trains_run_by_run(tiny, monkeypatch):
    class Mirror(nn.Module):
        def forward(self, x):
            return x.flip(-1) if self.training else x

    assert not can_transform(Mirror()) and not can_transform(Compose(RandomShift(1), Mirror()))
    assert can_transform(None) and can_transform(Compose(RandomShift(1), RandomScale(), GaussianNoise(0.1)))
    layered = count_members(monkeypatch)["batched"]   # its layer has no rule: the runs train stacked
    result = cu.sweep(cu.Config(hidden=(8,), epochs=1), tiny, seeds=[0, 1], progress=False,
                      model_fn=with_augmentation(Mirror()))
    assert len(result.models) == 2 and layered == []


def test_with_augmentation_validates_its_input():
    with pytest.raises(TypeError, match="nn.Module"):
        with_augmentation(lambda x: x)
    with pytest.raises(TypeError, match="nn.Module"):
        with_augmentation("shift")
