"""Checkpoints on disk: `config.json` + `model.safetensors`, never pickle.

Layout of a checkpoint folder:
    config.json            model config (and the training config it came from)
    model.safetensors      model weights (the frozen text encoder is not in it)
    resume/step-NNNNNNN/   full training state: model, optimizer, trainer state
    resume/latest          name of the newest complete step folder (for people and tools)
Every write goes to a temporary name and is renamed into place, so a process
killed at any moment leaves either the previous or the new file, never half
of one. A step folder appears only when complete, so the newest one is the
last complete checkpoint even when the kill came before `latest` was updated;
the temporaries a kill leaves behind are removed when training resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")
KEEP_RESUME = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: str, path: Path) -> None:
    """Gives the temporary file normal permissions (mkstemp makes it private), then renames it into place."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode())


def atomic_save_tensors(
    path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_parquet(path: Path, table) -> None:
    """A pandas DataFrame as Parquet, published whole or not at all (like the writers above)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        table.to_parquet(tmp, index=False)
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refuse_pickles(folder: Path) -> None:
    """A folder holding pickle files instead of safetensors is refused: loading them could run code."""
    pickles = (
        sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES) if folder.is_dir() else []
    )
    if pickles and not (folder / "model.safetensors").exists():
        raise CheckpointError(
            f"{folder} holds {', '.join(pickles)} (pickle format), which mmdemo never loads because a pickle "
            f"can run arbitrary code; convert it to model.safetensors + config.json, "
            f"or train a new checkpoint"
        )


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing; a checkpoint folder needs config.json and model.safetensors"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); restore it or retrain") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} should hold a JSON object")
    return data


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing; a checkpoint folder needs config.json and model.safetensors"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({e}); restore it or retrain") from None


def load_state_into(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Strict load with a readable message for missing, unexpected or mis-shaped weights."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:5])}" if missing else "",
                f"unexpected {', '.join(unexpected[:5])}" if unexpected else "",
                f"wrong shape {', '.join(shapes[:5])}" if shapes else "",
            )
            if part
        )
        raise CheckpointError(
            f"{path} does not match its config.json ({detail}); they come from different runs"
        )
    module.load_state_dict(state)


# ---------------------------------------------------------------- resume state
def save_resume(folder: Path, step: int, tensors: Mapping[str, torch.Tensor], state: dict) -> Path:
    """Writes resume/step-N atomically (as a renamed folder), then points resume/latest at it."""
    resume = folder / "resume"
    resume.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=resume))
    try:
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / "state.safetensors")
        )
        (tmp / "trainer.json").write_text(json.dumps(state, indent=2))
        final = resume / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_bytes(resume / "latest", name.encode())
    for old in sorted(p for p in resume.glob("step-*") if p.is_dir())[:-KEEP_RESUME]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Deletes the temporary files and folders a killed writer left in `folder` and `folder/resume`."""
    removed = []
    for parent in (folder, folder / "resume"):
        for tmp in parent.glob(".*"):
            if tmp.name.endswith(".tmp") or (tmp.is_dir() and tmp.name.startswith(".step-")):
                shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
                removed.append(tmp)
    for tmp in folder.glob("*.tmp.png"):  # the loss curve's temporary
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def load_resume(folder: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """Newest complete resume state, or None when there is none. Unreadable ones are skipped."""
    resume = folder / "resume"
    if not resume.is_dir():
        return None
    for step_dir in sorted((p for p in resume.glob("step-*") if p.is_dir()), reverse=True):
        try:
            tensors = load_file(str(step_dir / "state.safetensors"))
            state = json.loads((step_dir / "trainer.json").read_text())
            return tensors, state
        except (SafetensorError, OSError, ValueError):
            continue
    return None
