"""The demo service, loaded once in a background thread so the page answers while the model loads.

Every callback reaches the model through `RUNTIME.get()`: it waits for the load to finish and, if the
load failed, shows why on each request instead of leaving a dead page."""

from __future__ import annotations

import threading
from pathlib import Path

from mmdemo.runtime import DEFAULT_CHECKPOINT
from webapp.messages import refusal


class Runtime:
    """The service, loaded once in the background when the app starts (or on first use)."""

    def __init__(self) -> None:
        self.checkpoint, self.device, self.serving = DEFAULT_CHECKPOINT, "auto", False
        self._service, self._error, self._lock = None, None, threading.Lock()

    def configure(self, checkpoint: Path, device: str, serving: bool = False) -> None:
        """serving: this process only serves (`app.py`): torch's threads per operation are set, process-
        wide, to what serves best (`mmdemo.runtime.serve_with_torch_threads`) before the model loads."""
        self.checkpoint, self.device, self.serving = Path(checkpoint), device, serving

    def start(self) -> None:
        threading.Thread(target=self.get, daemon=True, name="load-model").start()

    def get(self):
        with self._lock:
            if self._service is None and self._error is None:
                try:
                    from mmdemo.serving.service import DemoService

                    if self.serving:
                        from mmdemo.runtime import serve_with_torch_threads

                        serve_with_torch_threads()

                    self._service = DemoService(self.checkpoint, self.device)
                except Exception as e:  # shown to the user on every request instead of a dead page
                    self._error = f"the model could not be loaded from {self.checkpoint}: {e}"
        if self._error:
            raise refusal(self._error)
        return self._service


RUNTIME = Runtime()
