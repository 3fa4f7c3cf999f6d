"""`python -m mmdemo train ...` with a pause at a chosen point of a checkpoint write, so a
test can SIGKILL it exactly there. Prints PAUSED (and flushes) when it gets there.

    MMDEMO_PAUSE=resume-write|publish:<file name>  MMDEMO_PAUSE_CALL=N  python tests/paused_train.py train ...

resume-write: the resume state's safetensors file is half written (inside its temporary folder).
publish:NAME: the N-th time NAME (latest, model.safetensors, history.json) is complete under its
temporary name and about to be renamed into place.
"""

import os
import runpy
import sys
import time
from pathlib import Path

import mmdemo.checkpoint as ckpt

WHERE = os.environ.get("MMDEMO_PAUSE", "")
CALL = int(os.environ.get("MMDEMO_PAUSE_CALL", "1"))
calls = 0


def pause() -> None:
    print("PAUSED", flush=True)
    time.sleep(600)


def counted() -> bool:
    global calls
    calls += 1
    return calls == CALL


real_save_file, real_publish = ckpt.save_file, ckpt._publish


def save_file(tensors, path, *args, **kwargs):
    real_save_file(tensors, path, *args, **kwargs)
    if WHERE == "resume-write" and Path(path).name == "state.safetensors" and counted():
        size = Path(path).stat().st_size
        with open(path, "r+b") as f:
            f.truncate(size // 2)
        pause()


def publish(tmp, path):
    if WHERE == f"publish:{Path(path).name}" and counted():
        pause()
    real_publish(tmp, path)


ckpt.save_file, ckpt._publish = save_file, publish
sys.argv = ["mmdemo", *sys.argv[1:]]
runpy.run_module("mmdemo", run_name="__main__")
