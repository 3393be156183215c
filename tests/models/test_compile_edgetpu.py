"""tools.compile_edgetpu: the shipped models only use ops the Edge TPU runs; a model that does
not is caught before anyone tries it on a Coral (no edgetpu_compiler here: x86 Debian CI has none)."""

from __future__ import annotations

import json

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
