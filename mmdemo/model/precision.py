"""Where bfloat16 pays off, and a switch to turn it off.

On CUDA and on CPUs with native bf16 instructions (AVX512-BF16, AMX) a bf16 matrix product takes
about half the time of a float32 one; other CPUs emulate bf16 and are slower with it, so there the
code stays in float32. Training autocasts its steps; inference autocasts the frozen MiniLM and the
batched readings behind `gallery` (`MultimodalModel.read(bf16=True)`), where throughput matters and
the results match float32's to a cosine of 0.99998 (docs/PERFORMANCE.md). `MMDEMO_FLOAT32=1` keeps
inference in float32 everywhere.
"""

from __future__ import annotations

import contextlib
import os

import torch


def native_cpu_bf16() -> bool:
    """True on CPUs whose instructions multiply bf16 directly."""
    return bool(
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )


def bf16_autocast(device: torch.device | str, enabled: bool = True):
    """bf16 autocast on CUDA, and on the CPU where it is native; a no-op elsewhere or when disabled."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled)
    if device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled and native_cpu_bf16())
    return contextlib.nullcontext()


def inference_autocast(device: torch.device | str):
    """`bf16_autocast` for inference, unless MMDEMO_FLOAT32=1 asks for float32. Autocast state is
    per thread: enter it in the thread that runs the network."""
    return bf16_autocast(device, enabled=os.environ.get("MMDEMO_FLOAT32", "") not in ("1", "true"))
