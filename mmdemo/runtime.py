"""Where code runs: the offline environment, the bundled checkpoint, device choice and torchrun
process groups."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: the app starts serving before it is loaded
    import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO_ROOT / "checkpoints" / "default"

# Every library the project uses can reach for the network at import or first use (hub lookups,
# version checks, telemetry); none of that exists on an offline machine, and a hub name waits ~70 s
# before failing. Set before transformers or gradio is imported.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def offline_env(environ: dict | None = None) -> dict:
    """Sets the offline variables in `environ` (default: this process) unless already set; returns it."""
    target = os.environ if environ is None else environ
    for key, value in OFFLINE_ENV.items():
        target.setdefault(key, value)
    return target


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when a GPU is visible, else cpu; a named device must exist."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    # whether this join made the group: a caller that runs several jobs in one torchrun group holds it
    # (a group left and made again does not meet again under torchrun), and the jobs leave it to them
    owner: bool = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(device: torch.device) -> Distributed:
    """Joins the process group torchrun set up (gloo on CPU, nccl on GPUs); single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    import torch
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local)
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, world, local, owner)


def shutdown_distributed(dd: Distributed) -> None:
    """Waits for the group's other processes; leaves the group if this join made it."""
    if dd.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()  # a holder's next job reads what this one's main process wrote
            if dd.owner:
                dist.destroy_process_group()


@contextmanager
def process_group(device: str) -> Iterator[Distributed]:
    """This process's place in its torchrun group (a group of one without torchrun), left on exit.

    A process that fails leaves at once, without the closing barrier: waiting there for the others,
    who wait for it in their next exchange, would hang the group; torchrun sees it exit and stops them."""
    dd = init_distributed(resolve_device(device))
    yield dd
    shutdown_distributed(dd)


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the system has one): how many worker
    processes or threads a job that should fill the machine starts."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def use_the_cores_left() -> int:
    """After a torchrun group has left, gives the process that goes on alone (the face decoder's fit
    and the calibration after `train`) every core this process may run on instead of the one thread
    torchrun gives each process (OMP_NUM_THREADS=1), which left all but one core idle for the fit's
    ~12 minutes on 2 cores. No-op outside torchrun. Returns the thread count now."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        torch.set_num_threads(usable_cores())
    return torch.get_num_threads()


SMALL_MACHINE_CPUS = 4


def serve_with_torch_threads() -> int:
    """Sets torch's threads per operation to what the app serves with: 1 on a machine of at most
    `SMALL_MACHINE_CPUS` CPUs, else torch's default is kept. Returns the count before, to restore.
    An analysis already keeps two cores busy
    with threads of its own (face detection, and the encoders and eSpeak beside it); torch's intra-op
    threads on top oversubscribed them: 201 -> 167 ms p50, 300 -> 196 ms p95 for one analysis on 2
    cores (docs/PERFORMANCE.md). Process-wide, so only a serving process sets it (`app.py`, the bench's
    serving part), never the library on import: training in the same process would change speed and
    its floating-point sums."""
    import torch

    before = torch.get_num_threads()
    if (os.cpu_count() or 1) <= SMALL_MACHINE_CPUS:
        torch.set_num_threads(1)
    return before


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Caps glibc's malloc arenas for threads started after this call (True when applied).

    A web server runs each request on whichever pool thread is free; glibc gives threads their own
    arenas (up to 8 per core), each keeping freed memory fragmented, so resident memory creeps up
    under concurrent load without any leak. Two arenas hold it flat. No-op off glibc."""
    return _mallopt(-8, arenas)  # M_ARENA_MAX


def keep_freed_memory() -> bool:
    """Lets glibc's malloc reuse freed blocks up to 32 MB instead of handing each back to the kernel
    and faulting it in again (True when applied). A batched reading allocates and frees the same
    few-MB tensors every batch; glibc's default maps each one fresh, and page faults took ~9% of
    `gallery`'s time as system time (docs/PERFORMANCE.md). For batch commands: a process that
    keeps it holds up to 1 GB of freed memory for reuse. No-op off glibc."""
    return _mallopt(-3, 32 << 20) and _mallopt(-1, 1 << 30)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


def _mallopt(param: int, value: int) -> bool:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(param, int(value)))
    except (OSError, AttributeError):
        return False
