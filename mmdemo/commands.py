"""What each `python -m mmdemo` subcommand does (`cli.py` declares their flags and dispatches).

Each command imports its implementation only when it runs, so `--help` and the cheap commands
start fast.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def _folder_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def cmd_data(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mmdemo.synth.generator import check_destination, generate_dataset, resolve_count

    total = resolve_count(args.preset, args.count)  # refuse bad requests before any output
    check_destination(args.out, args.overwrite)
    start = time.perf_counter()
    with tqdm(total=total, unit="sample", desc=f"data {args.preset}", disable=args.quiet) as bar:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        out = generate_dataset(
            args.out,
            preset=args.preset,
            count=args.count,
            seed=args.seed,
            overwrite=args.overwrite,
            workers=args.workers,
            progress=progress,
            lang=args.lang,
        )
    seconds = time.perf_counter() - start
    print(f"wrote {total} samples to {out} in {seconds:.1f} s ({_folder_size_mb(out):.0f} MB)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from mmdemo.training.loop import train

    start = time.perf_counter()
    out = train(
        args.data,
        args.out,
        preset=args.preset,
        gan=args.gan,
        resume=args.resume,
        device=args.device,
        steps=args.steps,
        init=args.init,
        real_features=args.real_features,
        critic=args.critic,
        private_dim=args.private_dim,
        face_decoder_steps=args.face_decoder_steps,
        progress=not args.quiet,
    )
    print(f"checkpoint in {out} ({time.perf_counter() - start:.0f} s)")
    if os.environ.get("RANK", "0") != "0":  # under torchrun, one process fits the rest
        return 0
    from mmdemo import checkpoint as ckpt
    from mmdemo.runtime import use_the_cores_left

    use_the_cores_left()  # torchrun's one thread per process: the other processes have left

    steps = ckpt.read_json(out / "config.json")["train"].get("face_decoder_steps", 0)
    if steps:
        from mmdemo.training.face_decoder_fit import FaceDecoderFit, fit_checkpoint

        begun = time.perf_counter()
        fit_checkpoint(out, args.data, FaceDecoderFit(steps=steps), device=args.device)
        print(f"fitted its face decoder ({steps} steps) in {time.perf_counter() - begun:.0f} s")
    _fit_lone_readers(out, args.data, args.device, when="after training")
    _calibrate(out, args.data, args.device, when="after training")
    if not (out / "gallery" / "gallery.parquet").is_file():
        print(
            f"to serve it in the app, lay out its map once: python -m mmdemo gallery --checkpoint {out} "
            f"--data DIR  (DIR: people it did not train on, e.g. from `python -m mmdemo data --seed 777`)"
        )
    return 0


def cmd_train_staged(args: argparse.Namespace) -> int:
    from mmdemo.evaluation.calibrate import calibrate_checkpoint
    from mmdemo.training.staged import Stages, train_staged

    least = {"steps": 1, "fine_tune_steps": 1, "face_decoder_steps": 0, "pixel_epochs": 1}
    for name, low in least.items():
        if (value := getattr(args, name)) is not None and value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be {low} or more (got {value})")
    stages = Stages(
        steps=args.steps,
        fine_tune_steps=args.fine_tune_steps,
        face_decoder_steps=args.face_decoder_steps,
        pixel_epochs=args.pixel_epochs,
    )
    record = train_staged(
        args.data,
        args.fine_tune_data,
        args.out,
        preset=args.preset,
        stages=stages,
        calibrate=lambda checkpoint, data: calibrate_checkpoint(checkpoint, data, device=args.device),
        resume=args.resume,
        device=args.device,
        progress=not args.quiet,
    )
    if not record:  # a torchrun process other than the main one: its share of the steps is done
        return 0
    print(f"checkpoint in {args.out} ({record['total_s']:.0f} s; stages.json says how long each stage took)")
    if not (args.out / "gallery" / "gallery.parquet").is_file():
        print(
            f"to serve it in the app, lay out its map once: "
            f"python -m mmdemo gallery --checkpoint {args.out} --data DIR"
        )
    return 0


def cmd_fit_readers(args: argparse.Namespace) -> int:
    from mmdemo.training.refit import refit_checkpoint

    start = time.perf_counter()
    options = dict(
        l2=args.l2,
        device=args.device,
        progress=not args.quiet,
        pixel_reader=args.pixel_reader,
        latent_gates=args.latent_gates,
        balance_sources=args.balance_sources,
    )
    fit = refit_checkpoint(args.checkpoint, args.data, modalities=args.only, **options)
    print(f"val balanced accuracy {fit['val_balanced_accuracy']} (was {fit['val_balanced_accuracy_before']})")
    print(f"refitted the readers of {args.checkpoint} in {time.perf_counter() - start:.0f} s (readers.json)")
    from mmdemo import checkpoint as ckpt

    if ckpt.read_json(args.checkpoint / "config.json")["model"].get("lone_readers"):
        # the lone readers were fitted against the old readers' logits
        print(
            f"its lone readers were fitted on top of the old readers: refit them with python -m mmdemo "
            f"fit-lone-readers --checkpoint {args.checkpoint} --data {' '.join(map(str, args.data))}"
        )
    return 0


def cmd_fit_lone_readers(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if _fit_lone_readers(args.checkpoint, args.data, args.device, progress=not args.quiet) is None:
        return 2
    took = time.perf_counter() - start
    print(f"fitted the lone readers of {args.checkpoint} in {took:.0f} s (lone_readers.json)")
    if (args.checkpoint / "calibration.safetensors").is_file():  # its curves weigh the old readings
        if _calibrate(args.checkpoint, args.data, args.device, when="after the lone readers") is None:
            return 2
    return 0


def _fit_lone_readers(
    checkpoint: Path, data: list[Path], device: str, when: str = "", progress: bool = False
) -> dict | None:
    """Fits the checkpoint's lone readers; prints how each modality alone is read before and after (val
    balanced accuracy of the attributes it carries), or why there was nothing to fit them on."""
    from mmdemo.training.lone_readers import fit_checkpoint

    try:
        record = fit_checkpoint(checkpoint, data, device=device, progress=progress)
    except ValueError as e:
        print(f"no lone readers fitted{' ' + when if when else ''}: {e}", file=sys.stderr)
        return None
    for m, entry in record["modalities"].items():
        if "skipped" in entry:
            print(f"lone {m} reader: {entry['skipped']}")
            continue
        before, after = (
            statistics.fmean(entry[k].values())
            for k in ("val_balanced_accuracy_before", "val_balanced_accuracy")
        )
        print(f"{m} alone, val balanced accuracy of what it shows: {before:.3f} -> {after:.3f}")
    return record


def cmd_fit_face_decoder(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mmdemo.training.face_decoder_fit import FaceDecoderFit, fit_checkpoint

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if args.quiet:
            return
        bar = bars.get(stage) or bars.setdefault(stage, tqdm(total=total, desc=stage, unit="", leave=True))
        bar.update(done - bar.n)

    start = time.perf_counter()
    fit = FaceDecoderFit(steps=args.steps, private_dim=args.private_dim)
    record = fit_checkpoint(args.checkpoint, args.data, fit, device=args.device, progress=progress)
    for bar in bars.values():
        bar.close()
    for folder, v in record["val"].items():
        psnr, ssim = v["all/psnr"], v["all/ssim"]
        print(f"{folder} val faces redrawn: PSNR {psnr:.2f} dB, SSIM {ssim:.3f} ({v['people']} faces)")
    took = time.perf_counter() - start
    print(f"fitted the face decoder of {args.checkpoint} in {took:.0f} s (face_decoder.json)")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    record = _calibrate(args.checkpoint, args.data, args.device)
    if record is None:
        return 2
    print(f"calibrated {args.checkpoint} in {time.perf_counter() - start:.0f} s (calibration.safetensors)")
    return 0


def _calibrate(checkpoint: Path, data: list[Path], device: str, when: str = "") -> dict | None:
    """Fits and writes the checkpoint's latent mixture and same-person curves; prints what they
    score, or why there was nothing to fit them on."""
    from mmdemo.evaluation.calibrate import calibrate_checkpoint

    try:
        record = calibrate_checkpoint(checkpoint, data, device=device)
    except ValueError as e:
        print(f"not calibrated{' ' + when if when else ''}: {e}", file=sys.stderr)
        return None
    mix = record["mixture"]
    k = mix["components"]
    print(
        f"latent mixture: {k} components on {record['train_people']} training latents; its samples "
        f"against the val people: precision {mix['precision'][k]:.3f}, recall {mix['recall'][k]:.3f}"
    )
    for pair, s in record["pairs_val"].items():
        print(f"same person? {pair}: ROC AUC {s['auc']:.3f}, Brier {s['brier']:.3f} ({s['pairs']} val pairs)")
    return record


def cmd_fit_chinese(args: argparse.Namespace) -> int:
    from mmdemo.model.chinese_text import CHINESE_TEXT_FILE
    from mmdemo.model.network import load_network
    from mmdemo.runtime import resolve_device
    from mmdemo.training.chinese_fit import fit_chinese_encoder

    net = load_network(args.checkpoint, resolve_device(args.device))
    encoder, record = fit_chinese_encoder(net, pairs=args.pairs, epochs=args.epochs, progress=not args.quiet)
    encoder.save(args.checkpoint, record)
    english = record["val_stated_accuracy_english_teacher"]
    print(
        f"Chinese descriptions: {record['val_stated_accuracy']:.3f} of stated attributes read right on "
        f"{record['val_pairs']} held-out ones (their English: {english:.3f}); {record['seconds']} s; "
        f"wrote {args.checkpoint / CHINESE_TEXT_FILE}"
    )
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from mmdemo.data.features import KINDS, FeatureTable
    from mmdemo.data.loaders import open_samples

    for root in args.data:
        samples = open_samples(root, "all")
        for kind in KINDS:
            start = time.perf_counter()
            table = FeatureTable(root, kind)
            done = table.update(samples, workers=args.workers, progress=not args.quiet)
            print(
                f"{kind}: {done} computed, {len(table.rows)} cached in {table.path} "
                f"({time.perf_counter() - start:.0f} s)"
            )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from mmdemo.evaluation.evaluate import classification_reports, evaluate, write_metrics

    start = time.perf_counter()
    metrics, preds = evaluate(
        args.checkpoint,
        args.data,
        split=args.split,
        device=args.device,
        limit=args.limit,
        train_evaluator_on_data=args.train_evaluator_on_data,
    )
    print(classification_reports(preds))
    print(json.dumps({k: round(v, 4) for k, v in metrics.items()}, indent=2))
    if args.json:
        write_metrics(args.json, metrics)
    print(f"evaluated {len(preds['truth'])} {args.split} samples in {time.perf_counter() - start:.0f} s")
    return 0


def cmd_evaluate_real(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from mmdemo.checkpoint import atomic_write_json
    from mmdemo.evaluation.real import evaluate_real

    start = time.perf_counter()
    with tqdm(unit="file", desc="real people", disable=args.quiet) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        metrics = evaluate_real(
            args.checkpoint,
            args.data,
            split=args.split,
            per_source=args.per_source,
            modality=args.only,
            device=args.device,
            progress=progress,
        )
    rounded = {k: round(v, 4) for k, v in metrics.items()}
    print(json.dumps(rounded, indent=2))
    if args.json:
        atomic_write_json(args.json, rounded)
    print(f"read {args.split} real files in {time.perf_counter() - start:.0f} s")
    return 0


def cmd_gallery(args: argparse.Namespace) -> int:
    from mmdemo.inference.projection import FIT_SAMPLE, build_gallery
    from mmdemo.runtime import keep_freed_memory, process_group

    keep_freed_memory()
    start = time.perf_counter()
    with process_group(args.device) as dd:  # under torchrun: the embedding is shared out
        folder = build_gallery(
            args.checkpoint,
            args.data,
            people=args.people,
            device=args.device,
            n_neighbors=args.n_neighbors,
            min_dist=args.min_dist,
            layout=args.layout,
            fit_sample=args.fit_sample or FIT_SAMPLE,
            features=args.features,
            progress=None if args.quiet else (lambda msg: print(msg, flush=True)),
            bar=not args.quiet,
            dd=dd,
        )
    if folder is not None:  # None: another process of the group wrote it
        print(f"gallery in {folder} ({time.perf_counter() - start:.0f} s)")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from mmdemo.checkpoint import atomic_write_parquet
    from mmdemo.inference.export import embed_dataset, write_projector
    from mmdemo.runtime import keep_freed_memory, process_group

    keep_freed_memory()
    if args.out.suffix.lower() != ".parquet":
        raise ValueError(f"--out {args.out} should end in .parquet")
    start = time.perf_counter()
    with process_group(args.device) as dd:  # under torchrun: one shard per process
        table, faces = embed_dataset(
            args.checkpoint,
            args.data,
            split=args.split,
            device=args.device,
            limit=args.limit,
            progress=not args.quiet,
            dd=dd,
        )
    if table is None:  # another process of the group writes the merged result
        return 0
    atomic_write_parquet(args.out, table)
    print(f"wrote {len(table)} rows ({table['id'].nunique()} samples x their input subsets) to {args.out}")
    if args.projector:
        write_projector(table, faces, args.projector)
        hint = (
            f"load projector_config.json in the web tool, or run TensorBoard with --logdir {args.projector}"
        )
        print(f"Embedding Projector files in {args.projector} ({hint})")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from mmdemo.evaluation.bench import profile_analyze, run_bench

    if args.profile:
        print(profile_analyze(args.checkpoint))
        return 0
    results = run_bench(
        args.checkpoint,
        runs=args.runs,
        startup_runs=args.startup_runs,
        skip_startup=args.skip_startup,
        data=args.data,
        say=(lambda msg: None)
        if args.quiet
        else (lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True)),
    )
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        from mmdemo.checkpoint import atomic_write_bytes

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.json, (text + "\n").encode())
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from mmdemo.serving.live import LiveOptions, run_live

    options = ("checkpoint", "camera", "source", "headless", "frames", "out", "device", "colour_by")
    print(run_live(LiveOptions(**{name: getattr(args, name) for name in options})).line())
    return 0
