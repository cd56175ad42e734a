"""Cutout and CutMix: where their boxes land, how large they are, and the label weight CutMix returns."""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from conftest import count_members
import course_utils as cu
from course_utils.augment import Cutout, box_masks, cut_and_paste, cutmix, random_boxes, with_augmentation
from course_utils.members import train_members
from course_utils.data import load_digits

sweep_module = importlib.import_module("course_utils.sweep")


def covered_probability(length: int, side: int) -> torch.Tensor:
    """P(position i is inside a box of `side` centred on a uniform position and clipped), for each i."""
    centres = torch.arange(length).view(-1, 1)
    top = centres - side // 2
    positions = torch.arange(length).view(1, -1)
    return ((positions >= top) & (positions < top + side)).double().mean(0)


@pytest.mark.parametrize("image_shape, height, width", [((8, 8), 4, 4), ((6, 10), 3, 6), ((5, 7), 5, 2)])
def test_random_boxes_land_where_a_uniform_centre_puts_them(image_shape, height, width):
    torch.manual_seed(0)
    n = 40_000
    boxes = random_boxes(n, image_shape, height, width)
    top, bottom, left, right = boxes.unbind(1)
    assert bool((top >= 0).all() and (bottom <= image_shape[0]).all() and (left >= 0).all()
                and (right <= image_shape[1]).all() and (top <= bottom).all() and (left <= right).all())
    assert int((bottom - top).max()) == height and int((right - left).max()) == width   # whole where not clipped
    frequency = box_masks(boxes, image_shape).double().mean(0)
    expected = torch.outer(covered_probability(image_shape[0], height), covered_probability(image_shape[1], width))
    torch.testing.assert_close(frequency, expected, rtol=0, atol=0.012)


def test_unclipped_boxes_have_centres_uniform_over_the_pixels_that_allow_them():
    torch.manual_seed(1)
    boxes = random_boxes(30_000, (8, 8), 4, 4)
    whole = ((boxes[:, 1] - boxes[:, 0]) == 4) & ((boxes[:, 3] - boxes[:, 2]) == 4)
    centres = boxes[whole, 0] + 2                                 # a 4-pixel box centred on r starts at r - 2
    counts = torch.bincount(centres, minlength=8).double() / len(centres)
    expected = torch.tensor([0, 0, 1, 1, 1, 1, 1, 0], dtype=torch.float64) / 5   # r = 2 ... 6 keep rows r-2 .. r+1
    torch.testing.assert_close(counts, expected, rtol=0, atol=0.015)
    assert abs(float(whole.double().mean()) - (5 / 8) ** 2) < 0.015


def test_boxes_of_one_size_per_box_and_masks_match_slicing():
    sizes = torch.tensor([0, 1, 3, 8])
    boxes = random_boxes(4, (8, 8), sizes, sizes, generator=torch.Generator().manual_seed(3))
    masks = box_masks(boxes, (8, 8))
    for mask, (top, bottom, left, right), size in zip(masks, boxes.tolist(), sizes.tolist()):
        expected = torch.zeros(8, 8, dtype=torch.bool)
        expected[top:bottom, left:right] = True
        assert torch.equal(mask, expected)
        assert bottom - top <= size and right - left <= size
    assert not masks[0].any()


def test_cutout_erases_one_square_per_image_at_its_own_place():
    torch.manual_seed(2)
    x = torch.rand(4000, 64) + 1                                     # no pixel is 0 before
    out = Cutout((8, 8), 4).train()(x)
    erased = (out == 0).view(-1, 8, 8)
    assert torch.equal(out[out != 0], x[out != 0])                   # what is not erased is untouched
    rows, columns = erased.any(2), erased.any(1)
    assert torch.equal(erased.sum((1, 2)), rows.sum(1) * columns.sum(1))   # each erased region is one rectangle
    assert int(erased.sum((1, 2)).max()) == 16 and int(erased.sum((1, 2)).min()) == 4   # 4×4, or clipped in a corner
    frequency = erased.double().mean(0)
    expected = torch.outer(covered_probability(8, 4), covered_probability(8, 4))
    torch.testing.assert_close(frequency, expected, rtol=0, atol=0.03)
    assert len(torch.unique(erased.view(len(x), -1), dim=0)) == 64        # every centre occurs


def test_cutout_with_p_erases_that_fraction_and_accepts_image_tensors():
    torch.manual_seed(3)
    x = torch.rand(4000, 1, 8, 8) + 1
    out = Cutout((8, 8), 2, p=0.3).train()(x)
    assert out.shape == x.shape
    assert abs(float((out == 0).flatten(1).any(1).double().mean()) - 0.3) < 0.03
    assert torch.equal(Cutout((8, 8), 0).train()(x), x) and torch.equal(Cutout((8, 8), 3, p=0).train()(x), x)


@pytest.mark.parametrize("lam", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_cut_and_paste_weight_is_the_share_of_pixels_left_from_x1(lam):
    torch.manual_seed(4)
    for _ in range(50):
        x1, x2 = torch.rand(5, 64) + 1, -torch.rand(5, 64) - 1
        mixed, weight = cut_and_paste(x1, x2, lam, (8, 8))
        from_x2 = mixed < 0
        assert torch.equal(mixed, torch.where(from_x2, x2, x1))
        assert (from_x2 == from_x2[:1]).all()                        # one box for the batch
        assert weight.ndim == 0 and float(weight) == pytest.approx(1 - float(from_x2[0].double().mean()), abs=1e-7)


def test_cut_and_paste_sides_are_the_square_root_of_the_pasted_share():
    torch.manual_seed(5)
    for lam, shape in [(0.75, (20, 32)), (0.5, (8, 8)), (0.36, (10, 5))]:
        sizes = set()
        for _ in range(200):
            mixed, _ = cut_and_paste(torch.ones(1, shape[0] * shape[1]), -torch.ones(1, shape[0] * shape[1]), lam,
                                     shape)
            pasted = (mixed < 0).view(shape)
            sizes.add((int(pasted.any(1).sum()), int(pasted.any(0).sum())))
        side = math.sqrt(1 - lam)
        assert max(sizes) == (round(side * shape[0]), round(side * shape[1]))
        assert len(sizes) > 3                                         # and clipped at the border in many calls


def test_cutmix_pastes_from_the_partner_whose_label_it_returns():
    torch.manual_seed(6)
    x = torch.arange(1.0, 9.0).view(8, 1).repeat(1, 64)             # image i is the constant i + 1
    y = torch.arange(8) * 10
    weights = []
    for _ in range(100):
        mixed, y1, y2, weight = cutmix(x, y, alpha=1.0, image_shape=(8, 8))
        assert torch.equal(y1, y)
        own = mixed == x
        partner_value = torch.where(own, torch.zeros_like(mixed), mixed).amax(1)   # 0 when nothing was pasted
        pasted_any = (~own).any(1)
        assert torch.equal((partner_value[pasted_any] - 1).long() * 10, y2[pasted_any])
        if pasted_any.any():                                        # one box, the same in every image
            assert torch.equal(y2[~pasted_any], y[~pasted_any])    # the images paired with themselves
            box = ~own[pasted_any]
            assert (box == box[:1]).all()
            assert float(weight) == pytest.approx(1 - float(box[0].double().mean()), abs=1e-7)
        else:                                                       # an empty box: y2 gets no weight
            assert float(weight) == 1.0
        weights.append(float(weight))
    # λ ~ Beta(1, 1) is uniform; clipping leaves more of x1 than λ, never less
    assert 0.5 < np.mean(weights) < 0.85 and min(weights) < 0.35 and max(weights) > 0.95


def test_cutmix_with_p_mixes_that_fraction_of_batches():
    torch.manual_seed(7)
    x, y = torch.rand(6, 64), torch.arange(6)
    assert cutmix(x, y, 1.0, (8, 8), p=0.0) == (x, y, y, 1.0)
    mixed = sum(cutmix(x, y, 1.0, (8, 8), p=0.4)[3] != 1.0 for _ in range(2000))
    assert abs(mixed / 2000 - 0.4) < 0.04


@pytest.mark.parametrize("make, error, message", [
    (lambda: Cutout((8, 8), -1), ValueError, "size must be an integer >= 0"),
    (lambda: Cutout((8, 8), 2, p=1.5), ValueError, r"p must be in \[0, 1\]"),
    (lambda: Cutout((8,), 2), ValueError, "image_shape must be"),
    (lambda: Cutout((8, 8), 2).train()(torch.rand(3, 40)), ValueError, "8×8 images"),
    (lambda: random_boxes(3, (8, 8), torch.ones(2, dtype=torch.int64), 2), ValueError, "height must be"),
    (lambda: random_boxes(3, (8, 8), 2, torch.full((3,), 1.5)), ValueError, "width must be"),
    (lambda: box_masks(torch.zeros(3, 3, dtype=torch.int64), (8, 8)), ValueError, r"shape \(n, 4\)"),
    (lambda: cut_and_paste(torch.rand(2, 64), torch.rand(3, 64), 0.5, (8, 8)), ValueError, "x1's shape"),
    (lambda: cut_and_paste(torch.rand(2, 64), torch.rand(2, 64), 1.5, (8, 8)), ValueError, "lam must be in"),
    (lambda: cut_and_paste(torch.rand(2, 64).numpy(), torch.rand(2, 64), 0.5, (8, 8)), TypeError, "torch.Tensor"),
    (lambda: cutmix(torch.rand(2, 64), torch.arange(2), 0.0, (8, 8)), ValueError, "alpha must be in"),
])
def test_region_functions_validate_their_inputs(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.fixture(scope="module")
def few_digits():
    data = cu.split_validation(load_digits(), fraction=0.2, seed=0)
    return cu.subsample(data, n_train=200, seed=0)


def test_a_sweep_with_cutout_is_batched_and_matches_training_alone(few_digits, monkeypatch):
    configs = {"plain": cu.Config(hidden=(16,), epochs=2), "l2": cu.Config(hidden=(16,), epochs=2, l2=0.01)}
    layer = Cutout((8, 8), 3)
    calls = []
    monkeypatch.setattr(sweep_module, "train_members",
                        lambda *args, **kwargs: calls.append(kwargs) or train_members(*args, **kwargs))
    layered = count_members(monkeypatch)["batched"]
    batched = cu.sweep(configs, few_digits, seeds=[0, 1], progress=False, model_fn=with_augmentation(layer))
    assert len(calls) == 1 and calls[0]["augmentation"] is layer and layered == [4]
    alone = cu.sweep(configs, few_digits, seeds=[0, 1], progress=False, model_fn=with_augmentation(layer),
                     batched=False)
    for column in ("train_acc", "val_acc", "test_acc"):
        np.testing.assert_allclose(batched.table[column], alone.table[column], atol=1e-6)
    plain = cu.sweep(configs, few_digits, seeds=[0, 1], progress=False)
    assert not np.array_equal(plain.table["train_acc"], batched.table["train_acc"])   # Cutout changed training
