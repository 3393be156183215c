"""Puts tests/ on sys.path so the shared Mosquitto harness (tests/mqtt_harness.py) imports."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
