"""The retry schedule of a lost camera: first wait, doubling, a ceiling, reset on success."""

from __future__ import annotations

from device.box.camera_retry import RetrySchedule


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_waits_double_up_to_the_ceiling_and_reset_on_success():
    clock = Clock()
    r = RetrySchedule(1.0, 5.0, clock=clock)
    assert r.due() and r.wait_s() is None
    assert [r.failed() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert not r.due() and r.wait_s() == 5.0
    clock.t += 4.9
    assert not r.due()
    clock.t += 0.2
    assert r.due() and r.wait_s() == 0.0
    r.succeeded()
    assert r.due() and r.failures == 0 and r.failed() == 1.0
