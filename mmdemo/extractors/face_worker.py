"""`read_face` in a second process, so dlib's descriptor (~0.1 s) overlaps the other encoders.

dlib holds the GIL while it computes, so a thread cannot run it beside the text and voice encoders;
a process can. The worker is `python -m mmdemo.extractors.face_worker`, a plain subprocess talking
over its stdin and stdout (no multiprocessing: that would re-import the caller's main module, which
for the app builds the whole page). One worker serves every caller in turn, through one thread that
does the round trip (blocking on the pipe releases the GIL).
If the worker fails, the caller reads the face itself and the worker is not used again.
"""

from __future__ import annotations

import atexit
import logging
import struct
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from mmdemo.extractors.face import FEATURE_DIM, N_LANDMARKS, FaceReading, read_face

log = logging.getLogger(__name__)
REQUEST = struct.Struct("<2i4i?")  # height, width, box x y w h, has box
RESPONSE_BYTES = 4 * (FEATURE_DIM + 2 * N_LANDMARKS) + 1


class FaceWorker:
    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.failed = False
        self.lock = threading.Lock()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="face-worker")

    def start(self) -> None:
        """Starts the worker now (it loads dlib's models while the caller goes on)."""
        with self.lock:
            if self.proc is None and not self.failed:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "mmdemo.extractors.face_worker"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                atexit.register(self.stop)

    def stop(self) -> None:
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)

    def submit(self, rgb: np.ndarray, box: tuple[int, int, int, int] | None) -> Future:
        """A future of `read_face(rgb, box)`, the same reading to the bit. The whole photo travels
        (a 1-megapixel frame takes about a millisecond through the pipe): a crop around the face
        would change what the landmark predictor sees at its edges."""
        return self.thread.submit(self._round_trip, np.ascontiguousarray(rgb, dtype=np.uint8), box)

    def _round_trip(self, region: np.ndarray, box) -> FaceReading:
        if self.failed:
            return read_face(region, box)
        try:
            self.start()
            header = REQUEST.pack(*region.shape[:2], *(box or (0, 0, 0, 0)), box is not None)
            self.proc.stdin.write(header + region.tobytes())
            self.proc.stdin.flush()
            reply = self.proc.stdout.read(RESPONSE_BYTES)
            if len(reply) != RESPONSE_BYTES:
                raise OSError(f"the face worker stopped (exit status {self.proc.poll()})")
        except OSError as e:
            log.warning("the face-feature worker failed (%s); faces are read in this process from now on", e)
            self.failed = True
            return read_face(region, box)
        values = np.frombuffer(reply[:-1], np.float32)
        features, landmarks = (
            values[:FEATURE_DIM].copy(),
            values[FEATURE_DIM:].reshape(N_LANDMARKS, 2).copy(),
        )
        return FaceReading(features, landmarks, bool(reply[-1]))


_SHARED: FaceWorker | None = None
_SHARED_LOCK = threading.Lock()


def shared_worker() -> FaceWorker:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = FaceWorker()
        return _SHARED


def serve(stdin=None, stdout=None) -> None:
    """The worker's loop: one request in, one reading out, until stdin closes."""
    stdin, stdout = stdin or sys.stdin.buffer, stdout or sys.stdout.buffer
    while True:
        header = stdin.read(REQUEST.size)
        if len(header) < REQUEST.size:
            return
        h, w, x, y, bw, bh, has_box = REQUEST.unpack(header)
        region = np.frombuffer(stdin.read(h * w * 3), np.uint8).reshape(h, w, 3)
        reading = read_face(region, (x, y, bw, bh) if has_box else None)
        body = np.concatenate([reading.features, reading.landmarks.ravel()]).astype(np.float32)
        stdout.write(body.tobytes() + bytes([reading.found]))
        stdout.flush()


if __name__ == "__main__":
    serve()
