"""Training, distillation, evaluation and benchmarks for cutbox (never needed on the device)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # ../shared beside the checkout: data, backbones, teachers
