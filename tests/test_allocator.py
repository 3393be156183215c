"""Frame-sized buffers are reused instead of being page-faulted in again on every frame."""

import resource

import numpy as np

from device.allocator import keep_frame_buffers


def _faults_for_frames(n: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        a = np.empty((1296, 2304, 3), np.uint8)
        a.fill(1)  # touch every page, as a camera frame copy does
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_after_tuning_a_freed_frame_buffer_is_reused_without_new_page_faults():
    assert keep_frame_buffers() is True  # glibc here
    _faults_for_frames(2)  # the first one grows the heap
    # a 9 MB frame is ~2200 pages: without reuse every frame would fault them all again
    assert _faults_for_frames(10) < 2200
