"""The house rules the code is held to: no class over 300 lines and no function over 80 in
`device/` (`python -m tools.sizes` lists any that break it)."""

from __future__ import annotations

from pathlib import Path

from tools.sizes import MAX_CLASS, MAX_FUNCTION, offenders

DEVICE = Path(__file__).resolve().parents[1] / "device"


def test_no_class_over_300_lines_and_no_function_over_80_in_device():
    assert offenders(DEVICE) == []


def test_the_size_check_names_what_is_too_long(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n\n\nclass Short:\n    pass\n")
    found = offenders(tmp_path)
    assert len(found) == 1 and "function long is 81 lines" in found[0] and str(MAX_FUNCTION) in found[0]
    assert MAX_CLASS == 300
