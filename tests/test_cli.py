"""The `cutbox` command line, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.paths import REPO, SAMPLES


def cutbox(*args: str, timeout: float = 120, **env_extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "device.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _save(im: Image.Image, path: Path, fmt: str) -> Path:
    buf = io.BytesIO()
    im.save(buf, fmt)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(scope="module")
def mixed_batch(tmp_path_factory) -> tuple[Path, set[str], set[str]]:
    """A folder of good inputs in every odd format, and every kind of broken file."""
    d = tmp_path_factory.mktemp("batch")
    photo = Image.open(SAMPLES / "cap.jpg").convert("RGB")
    good = {"plain.jpg", "cmyk.jpg", "gray.png", "rgba.png", "deep16.png"}
    shutil.copy(SAMPLES / "cap.jpg", d / "plain.jpg")
    _save(photo.convert("CMYK"), d / "cmyk.jpg", "JPEG")
    _save(photo.convert("L"), d / "gray.png", "PNG")
    rgba = photo.convert("RGBA")
    rgba.putalpha(200)
    _save(rgba, d / "rgba.png", "PNG")
    arr16 = cv2.imread(str(SAMPLES / "cap.jpg")).astype(np.uint16) * 257
    cv2.imwrite(str(d / "deep16.png"), arr16)
    bad = {"empty.jpg", "truncated.jpg", "bomb.png", "text.jpg"}
    (d / "empty.jpg").write_bytes(b"")
    data = (SAMPLES / "vest.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "bomb.png").write_bytes(png_header_only(30000, 30000))
    (d / "text.jpg").write_text("not a picture at all\n")
    return d, good, bad


@pytest.mark.slow
def test_cutout_makes_a_jpeg_and_mask_per_good_file_and_reports_each_bad_one(mixed_batch, tmp_path):
    folder, good, bad = mixed_batch
    out = tmp_path / "out"
    r = cutbox("cutout", str(folder), "-o", str(out))
    assert r.returncode == 1, r.stderr  # some failed
    for name in good:
        stem = Path(name).stem
        jpg = cv2.imread(str(out / f"{stem}.jpg"))
        mask = cv2.imread(str(out / f"{stem}.mask.png"), cv2.IMREAD_UNCHANGED)
        assert jpg is not None and jpg.shape == (2000, 2000, 3), name
        assert mask is not None and mask.shape == (2000, 2000) and mask.dtype == np.uint8, name
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(bad), r.stderr
    for name in bad:
        assert sum(name in line for line in errors) == 1, (name, errors)
        assert not (out / f"{Path(name).stem}.jpg").exists()
    assert "empty file" in r.stderr and "truncated" in r.stderr and "max_pixels" in r.stderr
    assert f"{len(good)} cut out, {len(bad)} failed" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_cutout_exits_0_when_all_files_are_good_and_takes_globs(tmp_path):
    r = cutbox(
        "cutout",
        str(SAMPLES / "c*.jpg"),
        str(SAMPLES / "shoes.jpg"),
        "-o",
        str(tmp_path),
        "--preset",
        "transparent-png",
    )
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    for stem in ("cap", "cardigan", "shoes"):
        assert f"{stem}.png" in names and f"{stem}.mask.png" in names
        assert cv2.imread(str(tmp_path / f"{stem}.png"), cv2.IMREAD_UNCHANGED).shape[2] == 4


@pytest.mark.slow
def test_a_missing_path_is_one_failure_and_the_rest_goes_on(tmp_path):
    r = cutbox("cutout", str(tmp_path / "nope.jpg"), str(SAMPLES / "vest.jpg"), "-o", str(tmp_path / "o"))
    assert r.returncode == 1
    assert (tmp_path / "o" / "vest.jpg").exists()
    assert "no such file or folder" in r.stderr


@pytest.mark.slow
def test_demo_cuts_out_the_bundled_samples(tmp_path):
    r = cutbox("demo", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    samples = sorted(p.stem for p in SAMPLES.glob("*.jpg"))
    assert 4 <= len(samples) <= 6
    assert sorted(p.name[: -len(".mask.png")] for p in tmp_path.glob("*.mask.png")) == samples
    assert all((tmp_path / f"{s}.jpg").stat().st_size > 10_000 for s in samples)


def test_a_missing_model_is_one_clear_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[segment]\nmodel = "/nonexistent/model.tflite"\n')
    r = cutbox(
        "cutout",
        str(SAMPLES / "cap.jpg"),
        "-o",
        str(tmp_path),
        "--config",
        str(cfg),
        CUTBOX__SEGMENT__MODEL='"/nonexistent/model.tflite"',
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "cutbox: model file not found: /nonexistent/model.tflite (set segment.model to the .tflite file beside its card)"
    ]


def test_an_unknown_config_key_stops_the_command_with_the_key_named(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[segment]\nthreds = 2\n")
    r = cutbox("demo", "-o", str(tmp_path), "--config", str(cfg))
    assert r.returncode == 2
    assert "segment.threds: unknown key" in r.stderr and "Traceback" not in r.stderr


def test_an_unknown_preset_is_refused_before_any_work(tmp_path):
    r = cutbox("cutout", str(SAMPLES / "cap.jpg"), "-o", str(tmp_path), "--preset", "nope")
    assert r.returncode == 2 and "unknown preset 'nope'" in r.stderr
    assert not list(tmp_path.iterdir())


def test_config_check_says_ok_for_the_default_file():
    r = cutbox("config", "check", "firmware_config/cutbox.toml")
    assert (r.returncode, r.stdout.strip()) == (0, "OK")


def test_config_check_takes_the_file_as_config_too_as_the_installer_calls_it():
    r = cutbox("config", "check", "--config", "firmware_config/cutbox.toml")
    assert (r.returncode, r.stdout.strip()) == (0, "OK")
    installer = (REPO / "tools" / "install-pi.sh").read_text()
    calls = re.findall(r'cutbox" config check (.*?) \|\|', installer)
    assert calls, "the installer no longer runs config check"
    for call in calls:
        args = shlex.split(call.replace('"$CONFIG_FILE"', "firmware_config/cutbox.toml").replace('"${under[@]}"', ""))
        r = cutbox("config", "check", *args)
        assert (r.returncode, r.stdout.strip()) == (0, "OK"), (call, r.stderr)


def test_config_check_refuses_two_different_files_and_none():
    r = cutbox("config", "check", "a.toml", "--config", "b.toml")
    assert r.returncode == 2 and "two files given" in r.stderr
    r = cutbox("config", "check")
    assert r.returncode == 2 and "name the file" in r.stderr


def test_config_check_prints_one_line_per_problem_with_the_fix(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[source]\nkind = "webcam"\npoll_intervall_s = 1\n[segment]\nthreads = 0\n')
    r = cutbox("config", "check", str(cfg))
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3, lines
    assert any(line.startswith("source.kind:") and "'files'" in line for line in lines)
    assert any(line.startswith("source.poll_intervall_s: unknown key") and "spelling" in line for line in lines)
    assert any(line.startswith("segment.threads:") and "greater than or equal to 1" in line for line in lines)


def test_config_check_names_a_missing_file_and_bad_toml(tmp_path):
    r = cutbox("config", "check", str(tmp_path / "none.toml"))
    assert r.returncode == 1 and "file not found" in r.stdout
    (tmp_path / "broken.toml").write_text("[source\n")
    r = cutbox("config", "check", str(tmp_path / "broken.toml"))
    assert r.returncode == 1 and "not valid TOML" in r.stdout


@pytest.mark.slow
def test_bench_reports_stages_percentiles_rss_and_the_machine():
    r = cutbox("bench", "--threads", "1", "--frames", "3", "--warmup", "1", "--budget-ms", "1e6", "--json", timeout=300)
    assert r.returncode == 0, r.stderr  # within a budget no frame can miss
    rep = json.loads(r.stdout)
    assert rep["artifact_budget_p95_ms"] == 1e6 and rep["within_artifact_budget"] is True
    assert {"stages", "total_p50_ms", "total_p95_ms", "peak_rss_mb"} <= set(rep)
    assert set(rep["stages"]) == {"source", "segment", "matte", "compose", "export"}
    assert all(v["p50_ms"] <= v["p95_ms"] for v in rep["stages"].values())
    assert 0 < rep["total_p50_ms"] <= rep["total_p95_ms"]
    assert {"page_p95_ms", "artifact_p95_ms", "artifact_cpu_p95_ms", "throughput_fps"} <= set(rep)
    assert rep["page_p95_ms"] <= rep["artifact_p95_ms"] and rep["source"] == "camera"
    assert rep["peak_rss_mb"] > 30
    assert rep["input"] == "2304x1296 RGB" and rep["output"]["jpeg_size"] == [2000, 2000]
    assert "mask" in rep["output"]["artifacts"]
    assert rep["machine"]["cpu"] and rep["pinned_cores"] and len(rep["pinned_cores"]) == 1
    assert rep["mode"] == "generic"
    assert not {"frame", "box", "shadow", "plate_fit"} & set(rep)  # the standard report is unchanged


@pytest.mark.slow
def test_bench_times_every_preset_to_its_files_page_and_artifact_ready():
    # a budget no frame can meet: the report is printed in full, then one line per preset over it
    args = ("--preset", "all", "--frames", "2", "--warmup", "0", "--source", "file", "--budget-ms", "0.01", "--json")
    r = cutbox("bench", *args, timeout=300)
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep["presets"]) == {"marketplace-white", "transparent-png", "lifestyle"}
    assert set(rep["artifact_p95_ms"]) == set(rep["presets"]) and rep["artifact_budget_p95_ms"] == 0.01
    assert rep["within_artifact_budget"] is False
    over = [line for line in r.stderr.splitlines() if "over the 0.01 ms budget" in line]
    assert sorted(line.split()[2].rstrip(":") for line in over) == sorted(rep["presets"])
    for name, p in rep["presets"].items():
        assert p["preset"] == name and p["source"] == "file"
        # the file clock runs on past the page clock: deferred encodes and the writes are on it
        assert 0 < p["page_p50_ms"] <= p["artifact_p50_ms"] and p["page_p95_ms"] <= p["artifact_p95_ms"]
        assert rep["artifact_p95_ms"][name] == p["artifact_p95_ms"]
        assert p["artifact_cpu_p50_ms"] > 0 and p["throughput_fps"] > 0
        # every artifact of the preset was really written, sidecar included, none empty
        exts = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "mask": ".mask.png", "meta": ".json"}
        assert sorted(p["output"]["files"]) == sorted(f"bench{exts[a]}" for a in p["output"]["artifacts"])
        assert all(n > 100 for n in p["output"]["files"].values())
        assert p["stages"]["source"]["p50_ms"] > 1.0  # the source stage is a JPEG decode here, not a copy
    pngs = rep["presets"]["transparent-png"]
    assert pngs["output"]["main"] == "png" and "png" in pngs["output"]["artifacts"]
    assert rep["presets"]["lifestyle"]["output"]["size"] == [1600, 2000]


def test_bench_refuses_plate_mode_for_all_presets():
    r = cutbox("bench", "--preset", "all", "--plate", timeout=60)
    assert r.returncode == 2 and "--plate times one preset" in r.stderr


def test_bench_refuses_a_budget_that_is_not_positive():
    r = cutbox("bench", "--budget-ms", "0", timeout=60)
    assert r.returncode == 2 and "--budget-ms must be > 0" in r.stderr


def _area(box):
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0)


@pytest.mark.slow
def test_bench_plate_times_booth_mode_against_generic():
    r = cutbox("bench", "--threads", "1", "--frames", "3", "--warmup", "1", "--plate", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    generic, plate = rep["generic"], rep["plate"]
    assert generic["mode"] == "generic" and plate["mode"] == "plate"
    assert plate["model"].startswith("cutbox-booth-int8") and not generic["model"].startswith("cutbox-booth")
    assert plate["plate_fit"].startswith("plate fits")
    assert plate["output"]["jpeg_size"] == [2000, 2000] and plate["frames"] == 3
    assert generic["frame"] == plate["frame"] == "booth"  # both modes timed on the same booth frame
    assert plate["shadow"] is True  # booth.shadow's default: the shadow layer is part of the cost
    # The plate shows the frame's own backdrop, so plate mode finds the same product, not the
    # whole floor: its crop box stays close to generic mode's (a carpet frame made it ~2x).
    assert 1 / 1.5 <= _area(plate["box"]) / _area(generic["box"]) <= 1.5, (generic["box"], plate["box"])
    assert _area(generic["box"]) < 0.5 * 2304 * 1296
    for key in ("segment_ratio", "total_ratio"):
        assert isinstance(rep[key], float) and rep[key] > 0
    assert rep["target_ratio"] == 1.2

    table = cutbox("bench", "--threads", "1", "--frames", "1", "--warmup", "0", "--plate", timeout=300)
    assert table.returncode == 0, table.stderr
    assert "(generic mode)" in table.stdout and "(plate mode)" in table.stdout
    assert "plate/generic segment p50 ratio:" in table.stdout and "(target <= 1.20x)" in table.stdout
    assert "frame: booth" in table.stdout and "cast-shadow layer (booth.shadow) on" in table.stdout


@pytest.mark.slow
def test_bench_booth_scene_is_deterministic_and_its_plate_is_its_backdrop():
    from device.config import validate
    from device.devtools.bench import FRAME_SIZE, booth_scene

    cfg = validate({"segment": {"threads": 1, "delegate": "cpu"}})
    a, b = booth_scene(cfg), booth_scene(cfg)
    assert a.name == "booth" and a.image.shape == a.plate.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.plate, b.plate)
    diff = np.abs(a.image.astype(np.int16) - a.plate.astype(np.int16)).max(axis=2)
    assert np.mean(diff[:, :300] > 12) < 0.001  # away from the product: the plate, up to sensor noise
    assert 0.05 < np.mean(diff > 40) < 0.4  # and there is one product in the middle
    assert all(0.5 < sd < 3 for sd in a.plate.reshape(-1, 3).std(axis=0))  # sensor noise on the plate
    assert not np.array_equal(a.image[:, :300], a.plate[:, :300])  # its own noise, not the frame's


@pytest.mark.slow
def test_bench_plate_fails_loudly_when_plate_mode_cannot_run(tmp_path):
    r = cutbox(
        "bench",
        "--frames",
        "1",
        "--warmup",
        "0",
        "--plate",
        timeout=300,
        CUTBOX__BOOTH__MODEL=str(tmp_path / "missing.tflite"),
    )
    assert r.returncode == 1
    assert "plate mode did not run" in r.stderr and "model file not found" in r.stderr


def test_bench_prints_a_table_by_default():
    r = cutbox("bench", "--frames", "2", "--warmup", "0", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "stage" in r.stdout and "p95 ms" in r.stdout and "total" in r.stdout
    assert "machine:" in r.stdout and "peak RSS" in r.stdout
    assert "page ready" in r.stdout and "artifact ready" in r.stdout and "frames/s to files" in r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="the warning is for a command run as root")
def test_a_command_run_as_root_in_the_service_users_folder_warns(tmp_path):
    """`sudo cutbox calibrate` would leave root's files in the cutbox user's folder, which the
    service then cannot replace: the command says so and names the user to run it as."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    cfg = tmp_path / "cutbox.toml"
    cfg.write_text(f'[station]\ndata_dir = "{data}"\n')
    run = cutbox("status", "--config", str(cfg))
    assert run.returncode == 0, run.stderr
    assert f"running as root in nobody's {data}" in run.stderr and "(sudo -u nobody)" in run.stderr
    os.chown(data, 0, 0)
    assert "warning" not in cutbox("status", "--config", str(cfg)).stderr
