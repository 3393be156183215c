"""Training pairs: a product keeps its own label wherever augmentation puts it."""

from __future__ import annotations

import numpy as np

from tools.model import booth, data


def _product() -> tuple[np.ndarray, np.ndarray]:
    """A blue box on grey, labelled solid (teacher alpha 0..255)."""
    rgb = np.full((200, 240, 3), 128, np.uint8)
    alpha = np.zeros((200, 240), np.uint8)
    rgb[50:150, 70:170] = (20, 40, 230)
    alpha[50:150, 70:170] = 255
    return rgb, alpha


def _red_green_scene() -> np.ndarray:
    """Another photo for the pool, in colours the product does not have: red and green halves."""
    scene = np.zeros((300, 300, 3), np.uint8)
    scene[:, :150] = (230, 30, 30)
    scene[:, 150:] = (30, 200, 40)
    return scene


def test_a_cluttered_scene_is_background_and_only_the_product_is_labelled():
    rgb, alpha = _product()
    for seed in range(10):
        img, a = booth.composite(rgb, alpha / 255.0, np.random.default_rng(seed), (200, 240), pool=[_red_green_scene()])
        assert img.shape == (200, 240, 3) and a.shape == (200, 240)
        # the label is the product's square alone, rescaled: nothing of the scene is labelled
        ys, xs = np.nonzero(a > 0.5)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert abs(h - w) <= 2 and (a > 0.5).sum() == h * w
        px = img.astype(np.float32)
        fg, bg = px[a > 0.99], px[a == 0]
        assert (fg[:, 2] > 2 * fg[:, 0]).all()  # blue product
        assert (np.maximum(bg[:, 0], bg[:, 1]) > 2 * bg[:, 2] + 5).mean() > 0.95  # red/green scene


def test_augment_puts_the_product_on_clutter_at_model_size():
    rgb, alpha = _product()
    rng = np.random.default_rng(0)
    for _ in range(8):
        x, a = data.augment(rgb, alpha, 128, rng, p_composite=0.0, pool=[_red_green_scene()], p_clutter=1.0)
        assert x.shape == (128, 128, 3) and x.dtype == np.uint8 and a.shape == (64, 64)
        fg = np.repeat(np.repeat(a > 0.95, 2, axis=0), 2, axis=1)
        assert fg.sum() > 200 and (a < 0.01).mean() > 0.1
        px = x.astype(np.float32)
        assert (px[fg][:, 2] > px[fg][:, 0]).mean() > 0.9


def test_a_matched_background_takes_the_products_own_colour():
    """`[data] p_match`: the low-contrast case (white on white) made on purpose; a blue box goes
    onto a blue sweep, where without it the background is a sweep, paper or texture of any colour."""
    rgb, alpha = _product()
    for seed in range(10):
        img, a = booth.composite(rgb, alpha / 255.0, np.random.default_rng(seed), (200, 240), match=True)
        bg = img[a == 0].astype(np.float32)
        assert np.abs(np.median(bg, axis=0) - (20, 40, 230)).max() < 70
        assert (bg[:, 2] > 2 * bg[:, 0]).mean() > 0.95
    rng = np.random.default_rng(0)
    blue = [
        np.median(booth.composite(rgb, alpha / 255.0, rng, (200, 240))[0][:20].reshape(-1, 3), axis=0)
        for _ in range(20)
    ]
    assert sum(b[2] > 2 * b[0] for b in blue) < 10


def test_augment_matches_only_the_share_of_booth_backgrounds_it_is_given():
    rgb, alpha = _product()

    def blue_backgrounds(p_match: float) -> int:
        rng, n = np.random.default_rng(1), 0
        for _ in range(12):
            x, a = data.augment(rgb, alpha, 128, rng, p_composite=1.0, p_match=p_match)
            bg = x[np.repeat(np.repeat(a == 0, 2, axis=0), 2, axis=1)].astype(np.float32)
            n += np.median(bg[:, 2]) > 2 * np.median(bg[:, 0]) + 20
        return n

    assert blue_backgrounds(1.0) == 12 and blue_backgrounds(0.0) < 6


def _write_pair(folder, name: str, rgb: np.ndarray, alpha: np.ndarray) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.jpg"), rgb[..., ::-1])
    cv2.imwrite(str(folder / f"{name}.png"), alpha)


def test_training_labels_blend_a_second_teacher_and_skip_the_unsure(tmp_path):
    import cv2
    import pytest

    rgb, alpha = _product()
    unsure = np.where(alpha > 0, 90, 0).astype(np.uint8)  # an opaque box left at alpha 0.35
    photos = tmp_path / "distill" / "boxes"
    _write_pair(photos, "sure", rgb, alpha)
    _write_pair(photos, "unsure", rgb, unsure)
    pairs = data.list_pairs([photos])
    extra = tmp_path / "labels"
    second = np.zeros_like(alpha)
    second[50:150, 70:120] = 255  # the second teacher keeps only the left half of the box
    (extra / "boxes").mkdir(parents=True)
    cv2.imwrite(str(data.extra_label_path(extra, pairs[0][0])), second)

    cfg = {"max_side": 400, "min_solid": 0.6}
    items, skipped = data.training_items(pairs, cfg)
    assert skipped == 1 and len(items) == 1 and np.array_equal(items[0][1], alpha)

    # the unsure photo is judged on IS-Net's own label, before any blending, so it needs no second label
    items, skipped = data.training_items(pairs, {**cfg, "extra_labels": str(extra), "extra_weight": 0.25})
    a = items[0][1]
    assert skipped == 1 and a.dtype == np.uint8 and a.shape == alpha.shape
    assert (a[60:140, 80:110] == 255).all()  # both teachers: solid
    assert (np.abs(a[60:140, 130:160].astype(int) - 191) <= 1).all()  # IS-Net only: 0.75 of 255
    assert (a[:40] == 0).all()

    # a missing second label names the file and the command that makes it
    (photos / "more.jpg").write_bytes((photos / "sure.jpg").read_bytes())
    (photos / "more.png").write_bytes((photos / "sure.png").read_bytes())
    with pytest.raises(FileNotFoundError, match=r"more\.png.*tools\.model\.label"):
        data.training_items(data.list_pairs([photos]), {**cfg, "extra_labels": str(extra)})


def test_held_out_categories_are_neither_trained_nor_validated_on(tmp_path):
    rgb, alpha = _product()
    for folder, name in [
        ("trashnet", "glass-1"),
        ("trashnet", "glass-2"),
        ("trashnet", "paper-1"),
        ("grocery-instore", "Oat-Milk_Oatly_001"),
        ("grocery-instore", "Milk_Arla_001"),
    ]:
        _write_pair(tmp_path / folder, name, rgb, alpha)
    pairs = data.list_pairs([tmp_path / "trashnet", tmp_path / "grocery-instore"])
    holdout = ["trashnet/glass-*", "grocery-instore/Oat-Milk_*"]
    train, val = data.split_pairs(pairs, 0.5, holdout)
    unseen = data.held_out(pairs, holdout)
    assert sorted(p[0].stem for p in unseen) == ["Oat-Milk_Oatly_001", "glass-1", "glass-2"]
    assert sorted(p[0].stem for p in train + val) == ["Milk_Arla_001", "paper-1"]
    assert not {p[0] for p in unseen} & {p[0] for p in train + val}


def test_batches_are_drawn_by_source_not_by_file(tmp_path):
    big = [(tmp_path / "clothing" / f"{i}.jpg", None) for i in range(900)]
    small = [(tmp_path / "trashnet" / f"{i}.jpg", None) for i in range(100)]
    w = data.sampling_weights(big + small, {"clothing": 1.0, "trashnet": 1.0})
    assert abs(w[:900].sum() - 0.5) < 1e-9 and abs(w[900:].sum() - 0.5) < 1e-9
    w = data.sampling_weights(big + small, {"trashnet": 3.0})  # an unnamed source weighs 1
    assert abs(w[900:].sum() - 0.75) < 1e-9
    assert np.allclose(data.sampling_weights(big + small, None), 1 / 1000)


def test_empty_frames_teach_that_a_bare_surface_is_not_a_product():
    rgb, alpha = _product()
    rng = np.random.default_rng(3)
    for _ in range(20):
        img, a = data.augment(rgb, alpha, 64, rng, 0.5, p_empty=1.0, items=[(rgb, alpha)])
        assert img.shape == (64, 64, 3) and not a.any()
        # a crop of the photo's bare background, or an empty booth surface: never the blue box
        scene = data.empty_scene(rng, [(rgb, alpha)], (100, 120))
        assert scene.shape == (100, 120, 3)
        assert not (scene == (20, 40, 230)).all(axis=2).any()


def test_composited_products_span_the_configured_sizes():
    rgb, alpha = _product()
    covers = []
    for seed in range(40):
        _, a = booth.composite(rgb, alpha / 255.0, np.random.default_rng(seed), (200, 240), fill=(0.2, 0.95))
        covers.append((a > 0.5).mean())
    assert min(covers) < 0.08 and max(covers) > 0.6
