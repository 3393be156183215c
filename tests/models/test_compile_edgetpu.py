"""tools.compile_edgetpu: the shipped models only use ops the Edge TPU runs; a model that does
not is caught before anyone tries it on a Coral (no edgetpu_compiler here: x86 Debian CI has none)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

from tools.compile_edgetpu import MODELS, check_ops, main


def test_both_shipped_models_use_only_edgetpu_ops(capsys):
    assert main(["--check-only"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in report] == [m.name for m in MODELS]
    for r in report:
        assert r["unsupported"] == [] and {"CONV_2D", "DEPTHWISE_CONV_2D"} <= set(r["ops"])


def test_an_op_the_tpu_cannot_run_is_named(tmp_path, capsys):
    model = schema.ModelT.InitFromPackedBuf(MODELS[0].read_bytes(), 0)
    model.operatorCodes[-1].builtinCode = model.operatorCodes[-1].deprecatedBuiltinCode = (
        schema.BuiltinOperator.TRANSPOSE
    )
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(bytes(builder.Output()))
    assert check_ops(bad)["unsupported"] == ["TRANSPOSE"]
    assert main(["--check-only", str(bad)]) == 1
    assert json.loads(capsys.readouterr().out)[0]["ok"] is False


# ---- the model card's `edgetpu` entry -----------------------------------------------------
REPO = MODELS[0].parents[1]


def copy_model(tmp_path, model=MODELS[0]):
    for suffix in (".tflite", ".json", ".md"):
        shutil.copy(model.with_suffix(suffix), tmp_path / model.with_suffix(suffix).name)
    return tmp_path / model.name


def fake_compiler(tmp_path):
    """Stands in for edgetpu_compiler (x86-64 apt package, not here): tests/models/fake_edgetpu_compiler.py."""
    exe = tmp_path / "edgetpu_compiler"
    exe.write_text(f'#!/bin/sh\ncd {REPO} && exec {sys.executable} -m tests.models.fake_edgetpu_compiler "$@"\n')
    exe.chmod(0o755)
    return str(exe)


def card(model):
    return json.loads(model.with_suffix(".json").read_text())


def test_an_uncompiled_model_gets_a_card_entry_that_says_so_and_how(tmp_path, capsys):
    model = copy_model(tmp_path)
    before = card(model)
    assert main(["--check-only", "--write-card", str(model)]) == 0
    entry = card(model)["edgetpu"]
    assert entry["file"] == "cutbox-student-int8_edgetpu.tflite" and entry["compiled"] is False
    assert entry["sha256"] is None and entry["compiled_from_sha256"] is None
    assert entry["note"].startswith("not compiled: edgetpu_compiler not found")
    assert entry["ops"]["unsupported"] == [] and "CONV_2D" in entry["ops"]["kinds"]
    assert "--write-card models/cutbox-student-int8.tflite" in entry["how"] and "ai-edge-litert" in entry["runtime"]
    assert {k: v for k, v in card(model).items() if k != "edgetpu"} == {
        k: v for k, v in before.items() if k != "edgetpu"
    }
    assert main(["--check-only", "--write-card", str(model)]) == 0  # again: one section, not two
    md = model.with_suffix(".md").read_text()
    assert md.count("## Edge TPU") == 1 and md.index("## Edge TPU") < md.index("## Latency")
    assert "`cutbox-student-int8_edgetpu.tflite`: not compiled" in md
    from device.segment.card import ModelCard

    assert ModelCard.load(model).edgetpu_sha256 is None  # nothing recorded: nothing to hold a file to


def test_a_compiled_model_is_recorded_with_its_sha256_and_the_runtime_holds_the_file_to_it(
    tmp_path, capsys, monkeypatch
):
    from device.segment import litert
    from device.segment.card import ModelCard

    model = copy_model(tmp_path)
    assert main(["--write-card", "--compiler", fake_compiler(tmp_path), str(model)]) == 0
    compiled = tmp_path / "cutbox-student-int8_edgetpu.tflite"
    entry = card(model)["edgetpu"]
    assert entry["compiled"] is True and entry["sha256"] == hashlib.sha256(compiled.read_bytes()).hexdigest()
    assert entry["compiled_from_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert (entry["compiler"], entry["ops_on_cpu"], entry["subgraphs"]) == ("16.0.384591198", 0, 1)
    assert entry["on_chip_memory"] == "1.93MiB" and entry["ops_total"] == len(entry["ops"]["kinds"])
    assert f"sha256 `{entry['sha256']}`" in model.with_suffix(".md").read_text()
    assert ModelCard.load(model).edgetpu_sha256 == entry["sha256"]

    monkeypatch.setattr(litert, "find_edgetpu", lambda: "usb:1-1")
    load = lambda lib, options: "delegate"  # noqa: E731 - no Coral here: the loader is what is not tested
    _, backend, _ = litert.choose_delegate("auto", "x", load, tpu_model=compiled, tpu_sha256=entry["sha256"])
    assert backend == "edgetpu"
    other = tmp_path / "other_edgetpu.tflite"  # compiled, but not the file the card records
    other.write_bytes(compiled.read_bytes() + b"\0")
    _, backend, reason = litert.choose_delegate("auto", "x", load, tpu_model=other, tpu_sha256=entry["sha256"])
    assert backend == "cpu" and "is not the compiled model its card records" in reason


def test_config_check_refuses_a_compiled_file_the_card_does_not_record(tmp_path, capsys):
    from device.cli import main as cutbox

    model = copy_model(tmp_path)
    assert main(["--write-card", "--compiler", fake_compiler(tmp_path), str(model)]) == 0
    capsys.readouterr()
    compiled = tmp_path / "cutbox-student-int8_edgetpu.tflite"
    cfg = tmp_path / "cutbox.toml"
    cfg.write_text(f'[segment]\nmodel = "{model}"\nedgetpu_model = "{compiled}"\n')
    assert cutbox(["config", "check", "--config", str(cfg)]) == 0
    compiled.write_bytes(compiled.read_bytes() + b"\0")
    assert cutbox(["config", "check", "--config", str(cfg)]) == 1
    assert "is not the compiled model cutbox-student-int8.tflite's card records" in capsys.readouterr().out


def test_a_compile_of_an_older_model_is_marked_stale(tmp_path, capsys):
    model = copy_model(tmp_path)
    assert main(["--write-card", "--compiler", fake_compiler(tmp_path), str(model)]) == 0
    entry = card(model)["edgetpu"]
    entry["compiled_from_sha256"] = "0" * 64  # as if compiled from the model before a retrain
    data = card(model)
    data["edgetpu"] = entry
    model.with_suffix(".json").write_text(json.dumps(data))
    assert main(["--check-only", "--write-card", str(model)]) == 0
    entry = card(model)["edgetpu"]
    assert entry["compiled"] is False and entry["sha256"] is None and entry["note"].startswith("stale:")


def test_the_shipped_cards_say_what_their_edgetpu_twin_is():
    for model in MODELS:
        entry = card(model)["edgetpu"]
        assert entry["file"] == f"{model.stem}_edgetpu.tflite" and entry["ops"]["unsupported"] == []
        compiled = model.with_name(entry["file"])
        if entry["compiled"]:
            assert entry["compiled_from_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
            if compiled.is_file():
                assert hashlib.sha256(compiled.read_bytes()).hexdigest() == entry["sha256"]
        else:
            assert entry["sha256"] is None and not compiled.exists()
