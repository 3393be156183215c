"""Frame-sized buffers are reused instead of being page-faulted in again on every frame."""

import subprocess
import sys

from tests.paths import REPO

# One "frame": the buffers a capture allocates (camera frame, 2000x2000 canvas, float matte,
# mask) and frees again; prints the page faults of 10 such frames after 2 warm-up frames.
_FRAMES = """
import resource, sys, numpy as np
if sys.argv[1] == "tuned":
    from device.allocator import keep_frame_buffers
    assert keep_frame_buffers()
def frames(n):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        bufs = [np.ones((1296, 2304, 3), np.uint8), np.ones((2000, 2000, 3), np.uint8),
                np.ones((1296, 2304), np.float32), np.ones((2000, 2000), np.uint8)]
        del bufs
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
frames(2)
print(frames(10))
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _FRAMES, mode], cwd=REPO, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_tuned_malloc_reuses_frame_buffers_where_the_default_faults_them_in_again():
    untuned, tuned = _faults("untuned"), _faults("tuned")
    assert untuned > 5000  # the default gives the big blocks back and faults them in again
    assert tuned < untuned / 10
