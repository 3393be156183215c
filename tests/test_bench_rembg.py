"""tools/bench_rembg: the frames both tools get, cutbox's crop mapped back onto the frame for IoU,
and rembg held to the weights it was given (rembg itself is not installed for the tests)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from tools.bench_rembg import U2NETP_MD5, commands, cutbox_alpha, prepare_frames, rembg_home


def _labelled_set(tmp_path, sizes):
    for i, (w, h) in enumerate(sizes):
        (tmp_path / "img").mkdir(parents=True, exist_ok=True)
        (tmp_path / "gt").mkdir(exist_ok=True)
        img = np.full((h, w, 3), 90, np.uint8)
        gt = np.zeros((h, w), np.uint8)
        gt[h // 4 : h // 2, w // 4 : w // 2] = 255
        cv2.imwrite(str(tmp_path / "img" / f"s{i}.jpg"), img)
        cv2.imwrite(str(tmp_path / "gt" / f"s{i}.png"), gt)
    return tmp_path


def test_frames_are_fitted_into_the_camera_size_with_their_ground_truth(tmp_path):
    data = _labelled_set(tmp_path / "set", [(640, 480), (400, 600), (1000, 200)])
    gts = prepare_frames(data, 2, (2304, 1296), tmp_path / "in")
    assert sorted(gts) == ["s0", "s1"]  # the first two only
    for name, gt in gts.items():
        frame = cv2.imread(str(tmp_path / "in" / f"{name}.jpg"))
        assert frame.shape[:2] == gt.shape and frame.shape[0] == 1296 and frame.shape[1] <= 2304
        assert 0.06 < (gt > 0.5).mean() < 0.07  # a quarter by a quarter of the frame, scaled with it


@pytest.mark.parametrize("box", [(100, 50, 300, 250), (0, 0, 120, 80), (500, 300, 640, 480)])
def test_cutbox_crop_goes_back_where_it_came_from_in_the_frame(tmp_path, box):
    frame_alpha = np.zeros((480, 640), np.uint8)
    x0, y0, x1, y1 = box
    frame_alpha[y0:y1, x0:x1] = np.arange((y1 - y0) * (x1 - x0)).reshape(y1 - y0, x1 - x0) % 200 + 56
    m = 16
    canvas = np.zeros((y1 - y0 + 2 * m, x1 - x0 + 2 * m), np.uint8)
    canvas[m:-m, m:-m] = frame_alpha[y0:y1, x0:x1]
    rgba = np.dstack([np.full(canvas.shape + (3,), 128, np.uint8), canvas])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    (tmp_path / "a.json").write_text(json.dumps({"box": list(box), "size": [canvas.shape[1], canvas.shape[0]]}))
    got = cutbox_alpha(tmp_path, "a", frame_alpha.shape)
    assert np.array_equal(np.round(got * 255).astype(np.uint8), frame_alpha)


def test_rembg_gets_only_its_own_published_weights(tmp_path):
    wrong = tmp_path / "u2netp.onnx"
    wrong.write_bytes(b"not the model")
    with pytest.raises(SystemExit, match="not rembg's u2netp"):
        rembg_home(wrong, tmp_path / "home")
    with pytest.raises(SystemExit, match="no U2-Net-p weights"):
        rembg_home(tmp_path / "missing.onnx", tmp_path / "home")
    assert len(U2NETP_MD5) == 32


def test_both_tools_run_pinned_to_one_core_with_one_thread(tmp_path):
    out = {"cutbox": tmp_path / "c", "rembg": tmp_path / "r"}
    cmds = commands(3, tmp_path / "venv", tmp_path / "in", out, tmp_path / "home")
    for cmd, env in cmds.values():
        assert cmd[:3] == ["taskset", "-c", "3"] and env["OMP_NUM_THREADS"] == "1"
    assert cmds["cutbox"][1]["CUTBOX__SEGMENT__THREADS"] == "1"
    assert "transparent-png" in cmds["cutbox"][0]  # PNG out on both sides
    assert cmds["rembg"][1]["U2NET_HOME"] == str(tmp_path / "home")
