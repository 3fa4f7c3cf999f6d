"""Training in stages, synthetic people first and real people after, in one call: the bundled
checkpoint's recipe.

A synthetic person shows a face, a description and a voice together; a real photo or clip shows one
input. Trained on both kinds from the first step, the fusion learns cross-modal generation from
fewer people: one such run scored text-voice agreement AUC 0.959, voice->image 0.83 and PSNR 24.1 dB
on the synthetic test split where the staged bundled checkpoint scores 0.975, 0.92 and 25.3
(docs/train-one-run-real-and-synthetic-2026-12-06-cpu2.json). So, in order:

1. the preset's steps on the synthetic folders alone, without the frozen real-world features;
2. a fine-tune from those weights on synthetic and real folders together, reading faces and voices
   with the frozen features too (as `train --init ... --real-features`);
3. the attribute readers solved on the finished network: the face readers and the pixel reader with
   every dataset weighed alike within an attribute value, then the voice readers by value only (a
   voice's age and acted emotion come from few real sources, and weighed by dataset the synthetic
   voices lost 0.04 of age and emotion: README, "Real people");
4. the face decoder fitted on the frozen latents (`face_decoder_fit`);
5. the latent mixture and the same-person curves, on the synthetic folders: their people show all
   three inputs, so every pair of inputs has matched and mismatched examples.

The lone readers are left out: with latent gates and feature readers they moved the bundled
checkpoint's test split by run-to-run amounts only (README, "The bundled checkpoint").
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from mmdemo import checkpoint as ckpt
from mmdemo.runtime import process_group, resolve_device, use_the_cores_left
from mmdemo.training.loop import train

log = logging.getLogger(__name__)

STAGES_FILE = "stages.json"  # beside the weights: what each stage did and how long it took
SYNTHETIC_STAGE = "stage-synthetic"  # the first stage's checkpoint, inside the run's folder until it ends


@dataclass(frozen=True)
class Stages:
    """How long each stage runs (None: the preset's)."""

    steps: int | None = None  # stage 1, on the synthetic folders
    fine_tune_steps: int = 700  # stage 2, on everything (the bundled checkpoint: 250 + 450)
    face_decoder_steps: int | None = None  # stage 4 (None: the preset's)
    pixel_epochs: int | None = None  # stage 3's passes over the training faces (None: the fit's default)


def train_staged(
    synthetic: Sequence[str | Path],
    fine_tune: Sequence[str | Path],
    out: str | Path,
    *,
    preset: str = "default",
    stages: Stages = Stages(),
    calibrate: Callable[[Path, list[Path]], object] | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Trains a checkpoint at `out` in the stages above: `synthetic` folders for the first stage and
    the calibration, `fine_tune` folders (synthetic and real together) for the fine-tune, the readers
    and the face decoder. Returns the record written to `STAGES_FILE` (seconds per stage), which is
    rewritten as each stage ends: `resume` skips the stages it lists and continues the steps of an
    unfinished one from their newest checkpoint (`train --resume`). Under torchrun every process
    takes part in the steps of both stages (each step then carries a batch a process) and the main
    process alone fits the rest; the others return an empty record. `calibrate(checkpoint, folders)`
    fits the last stage (the caller passes `evaluation.calibrate.calibrate_checkpoint`, which sits in a
    layer above training; None: no calibration)."""
    from mmdemo.training import refit
    from mmdemo.training.config import resolve_config
    from mmdemo.training.face_decoder_fit import FaceDecoderFit, fit_checkpoint

    out = Path(out)
    synthetic, fine_tune = [Path(d) for d in synthetic], [Path(d) for d in fine_tune]
    if not synthetic or not fine_tune:
        raise ValueError("name the synthetic folders (--data) and the fine-tune folders (--fine-tune-data)")
    decoder_steps = stages.face_decoder_steps
    if decoder_steps is None:
        decoder_steps = resolve_config(preset).face_decoder_steps
    record = {
        "synthetic": [str(d) for d in synthetic],
        "fine_tune": [str(d) for d in fine_tune],
        "preset": preset,
        "stages": {
            **asdict(stages),
            "steps": resolve_config(preset, steps=stages.steps).steps,
            "face_decoder_steps": decoder_steps,
        },
        "seconds": {},
    }
    record["seconds"] = _stages_done(out, record, resume)
    main = os.environ.get("RANK", "0") == "0"
    clock = time.perf_counter()

    def run(stage: str, work) -> None:
        nonlocal clock
        if stage in record["seconds"]:
            return
        work()
        now = time.perf_counter()
        took, clock = round(now - clock, 1), now
        log.info("%s: %.0f s", stage, took)
        if main:
            record["seconds"][stage] = took
            ckpt.atomic_write_json(out / STAGES_FILE, record)
            if progress:
                print(f"{stage}: {took:.0f} s", flush=True)

    first = out / SYNTHETIC_STAGE

    def steps(data, folder, **options) -> None:
        again = resume and (folder / "config.json").exists()
        train(data, folder, preset=preset, device=device, progress=progress, resume=again, **options)

    with process_group(device):  # under torchrun, one group for both stages' steps
        run("1 synthetic steps", lambda: steps(synthetic, first, steps=stages.steps))
        tune = dict(steps=stages.fine_tune_steps, init=first, real_features=True, fit_readers=False)
        run("2 fine-tune steps with the frozen features", lambda: steps(fine_tune, out, **tune))
    if not main:  # the steps are shared; one process fits the rest
        return {}

    from mmdemo.model.network import load_network

    use_the_cores_left()  # torchrun's one thread per process: the other processes have left

    def readers() -> None:
        net = load_network(out, resolve_device(device))
        epochs = stages.pixel_epochs
        faces = refit.fit_all_readers(
            net, fine_tune, modalities=("image",), progress=progress, pixel_epochs=epochs
        )
        voices = refit.fit_all_readers(
            net, fine_tune, modalities=("voice",), progress=progress, balance_sources=False
        )
        refit.save(net, out, {**faces, "refits": [voices]})
        refit.record_reader_data(out, fine_tune)

    run("3 readers", readers)
    if decoder_steps:  # 0: the face decoder the steps trained
        decoder = FaceDecoderFit(steps=decoder_steps)
        run("4 face decoder", lambda: fit_checkpoint(out, fine_tune, decoder, device=device))
    if calibrate is not None:
        run("5 calibration", lambda: calibrate(out, synthetic))

    if first.exists():
        shutil.rmtree(first)
        config = ckpt.read_json(out / "config.json")
        config["init"] = (
            f"stage 1 of this run: {record['stages']['steps']} steps on {' + '.join(record['synthetic'])}"
        )
        ckpt.atomic_write_json(out / "config.json", config)
    record["total_s"] = round(sum(record["seconds"].values()), 1)
    ckpt.atomic_write_json(out / STAGES_FILE, record)
    return record


def _stages_done(out: Path, record: dict, resume: bool) -> dict[str, float]:
    """The stages an earlier run of the same recipe into `out` finished (their seconds), or a refusal
    that says what to do."""
    if not resume:
        if out.exists() and any(out.iterdir()):
            raise ValueError(f"{out} is not empty; choose another --out, or pass --resume to continue it")
        return {}
    if not (out / STAGES_FILE).is_file():
        if (out / SYNTHETIC_STAGE / "config.json").exists():
            return {}  # stopped during the first stage
        raise ValueError(f"{out} holds no staged run to resume; train without --resume first")
    earlier = ckpt.read_json(out / STAGES_FILE)
    same = {k: earlier.get(k) for k in ("synthetic", "fine_tune", "preset", "stages")}
    if same != {k: record[k] for k in same}:
        raise ValueError(
            f"{out} was started with other folders or stage lengths ({same}); resume it with those, or "
            f"choose another --out"
        )
    return dict(earlier["seconds"])
