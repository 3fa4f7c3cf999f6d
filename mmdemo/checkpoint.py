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

A resume step folder holds `state.safetensors` (the model as `model.*`, its optimizer's tensors as
`optim.<param>.<key>`, with --gan the discriminator as `disc.*` and its optimizer as `disc_optim.*`,
and the global and the run's own random states as `rng.torch`, `rng.gen`) and `trainer.json` (step,
loss history, and each optimizer's param groups and non-tensor state).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors import SafetensorError, safe_open
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


def rewrite_network(folder: Path, net: torch.nn.Module, *, config: bool = True) -> None:
    """Writes a network a fit has changed back into the checkpoint at `folder`: its model config into
    `config.json` (the file's other sections kept) when `config`, then its weights, each atomically."""
    if config:
        saved = read_json(folder / "config.json")
        atomic_write_json(folder / "config.json", {**saved, "model": net.config.to_dict()})
    atomic_save_tensors(folder / "model.safetensors", net.state_dict())


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


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a tensors file (`atomic_save_tensors`' `metadata`), without its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({e}); restore it or retrain") from None


def read_record(path: Path) -> dict:
    """The JSON `record` a tensors file keeps in its metadata (how its contents were fitted); {} if none."""
    return json.loads(read_metadata(path).get("record", "{}"))


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


# ---------------------------------------------------------------- training checkpoints
class TrainingParts(Protocol):
    """What a training checkpoint saves and restores, named as a training run holds it."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator  # the run's own generator (subset draws, latent noise, token dropout)
    disc: torch.nn.Module | None  # the PatchGAN discriminator, when training with one
    disc_opt: torch.optim.Optimizer | None
    history: list[dict]  # one record of losses per step so far


def write_config(folder: Path, *, model: dict, train: dict, data: str, init: str | None) -> None:
    """config.json of a new training run: the model config its weights need, the training config,
    the dataset and the checkpoint it was fine-tuned from (None: trained from scratch)."""
    atomic_write_json(
        folder / "config.json", {"format": 1, "model": model, "train": train, "data": data, "init": init}
    )


def save_training(folder: Path, parts: TrainingParts, step: int) -> None:
    """The resume state at `step` first, then the published model.safetensors and history.json: a kill
    between the two leaves a resumable state that is at least as new as the published weights."""
    tensors = {f"model.{k}": v for k, v in parts.model.state_dict().items()}
    opt_tensors, opt_meta = flatten_optimizer(parts.opt, "optim")
    tensors.update(opt_tensors)
    state = {"step": step, "optim": opt_meta, "history": parts.history}
    if parts.disc is not None:
        tensors.update({f"disc.{k}": v for k, v in parts.disc.state_dict().items()})
        d_tensors, state["disc_optim"] = flatten_optimizer(parts.disc_opt, "disc_optim")
        tensors.update(d_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.gen"] = parts.gen.get_state()
    save_resume(folder, step, tensors, state)
    atomic_save_tensors(folder / "model.safetensors", parts.model.state_dict())
    atomic_write_json(folder / "history.json", parts.history)


def restore_training(
    folder: Path, state: tuple[dict[str, torch.Tensor], dict], parts: TrainingParts
) -> tuple[int, list[dict]]:
    """Loads a `load_resume` state into the parts (weights, optimizers, both random states);
    returns the step it was saved at and the loss history up to it."""
    tensors, meta = state
    load_state_into(parts.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, folder)
    restore_optimizer(parts.opt, tensors, meta["optim"], "optim")
    if parts.disc is not None and "disc_optim" in meta:
        parts.disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc.")})
        restore_optimizer(parts.disc_opt, tensors, meta["disc_optim"], "disc_optim")
    torch.set_rng_state(tensors["rng.torch"])
    parts.gen.set_state(tensors["rng.gen"])
    return meta["step"], meta["history"]


def flatten_optimizer(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    """An optimizer's state as safetensors-ready tensors named `prefix.<param>.<key>`, plus the JSON
    rest (param groups and non-tensor values such as step counts)."""
    sd = opt.state_dict()
    tensors = {
        f"{prefix}.{pid}.{key}": value
        for pid, st in sd["state"].items()
        for key, value in st.items()
        if torch.is_tensor(value)
    }
    scalars = {
        f"{pid}.{key}": value
        for pid, st in sd["state"].items()
        for key, value in st.items()
        if not torch.is_tensor(value)
    }
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: Mapping, meta: dict, prefix: str) -> None:
    """The inverse of `flatten_optimizer`."""
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            pid, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
