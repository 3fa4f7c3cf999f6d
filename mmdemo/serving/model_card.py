"""The model card the About tab shows, written from what the checkpoint folder says about itself.

`metrics.json` holds the synthetic test figures; a checkpoint that reads real people also holds
`real_metrics.json` (from `python -m mmdemo evaluate-real`) and `training_data.json` (its real
sources, their counts and licences, copied from the real set's summary). Everything shown comes
from those files, so the card cannot drift from the weights it describes.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from mmdemo import checkpoint as ckpt
from mmdemo.data.real import TRAINING_DATA_FILE
from mmdemo.inference.calibration import AGREE_FROM, CALIBRATION_FILE, DISAGREE_BELOW
from mmdemo.model.chinese_text import CHINESE_TEXT_FILE
from mmdemo.model.face_detail import FACE_DECODER_FILE
from mmdemo.model.network import LONE_READERS_FILE

REAL_METRICS_FILE = "real_metrics.json"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def model_card(checkpoint: Path, metrics: dict, people: int, reads_real: bool) -> str:
    real_metrics = _read(checkpoint / REAL_METRICS_FILE)
    sources = _read(checkpoint / TRAINING_DATA_FILE).get("sources", {})
    rows = "\n".join(f"| `{k}` | {v:.3f} |" for k, v in metrics.items())
    pixel_reader = _read(checkpoint / "config.json").get("model", {}).get("pixel_reader", False)
    parts = [
        WHAT.format(checkpoint=html.escape(str(checkpoint))),
        (TRAINED_ON_REAL + (PIXEL_READER if pixel_reader else "") + _sources_table(sources))
        if sources
        else TRAINED_ON_SYNTHETIC,
        _real_figures(real_metrics) if real_metrics else "",
        _face_decoder(_read(checkpoint / FACE_DECODER_FILE)),
        _lone_readers(_read(checkpoint / LONE_READERS_FILE)),
        _calibration(_fit_record(checkpoint / CALIBRATION_FILE)),
        _chinese(_fit_record(checkpoint / CHINESE_TEXT_FILE)),
        SYNTHETIC_METRICS.format(metrics=rows or "| (no metrics.json beside this checkpoint) | |"),
        WARNING,
        LIMITATIONS.format(real="" if reads_real else NOT_REAL),
        PRIVACY.format(people=people),
    ]
    return "\n\n".join(p.strip() for p in parts if p)


def _face_decoder(record: dict) -> str:
    """How the face decoder was fitted, and how well it redraws each data folder's unseen faces."""
    if not record:
        return ""
    scores = "; ".join(
        f"`{folder}` {v['all/psnr']:.1f} dB PSNR, SSIM {v['all/ssim']:.2f} ({v['people']} faces)"
        for folder, v in record.get("val", {}).items()
    )
    return FACE_DECODER.format(steps=record["settings"]["steps"], scores=scores or "not scored")


def _lone_readers(record: dict) -> str:
    """How each input alone is read with and without its lone reader, on the validation split."""
    fitted = [m for m in record.get("lone_readers", []) if m in record.get("modalities", {})]
    if not fitted:
        return ""
    who = {"image": "a face", "text": "a description", "voice": "a voice"}
    rows = []
    for m in fitted:
        entry = record["modalities"][m]
        before, after = entry.get("val_balanced_accuracy_before", {}), entry.get("val_balanced_accuracy", {})
        input_ = who.get(m, html.escape(m))
        rows += [
            f"| {input_} | {html.escape(n)} | {before[n]:.3f} | {after[n]:.3f} |"
            for n in before
            if n in after
        ]
    return LONE_READERS.format(rows="\n".join(rows))


def _sources_table(sources: dict) -> str:
    header = "files (the network or its attribute readers trained on each source's train split)"
    lines = [f"| source | {header} | licence |", "|---|---|---|"]
    for name, s in sorted(sources.items()):
        licence = "; ".join(s.get("licence", [])) or "unknown"
        lines.append(f"| {html.escape(name)} | {s.get('files', '?'):,} | {html.escape(licence)} |")
    return "\n" + "\n".join(lines)


def _real_figures(m: dict) -> str:
    """Overall balanced accuracy per attribute, then per source and group where they were scored."""
    figures = [k for k in m if k.split("/")[-1] not in ("n", "ci_low", "ci_high")]
    overall = sorted(k for k in figures if k.count("/") == 2 and k.split("/")[1] in ("image", "voice"))
    lines = [REAL_HEADER, "| input | attribute | balanced accuracy | 95% interval | files |", "|---|" * 5]
    for k in overall:
        _, modality, name = k.split("/")
        interval = f"{m[k + '/ci_low']:.2f}-{m[k + '/ci_high']:.2f}" if k + "/ci_low" in m else ""
        who = "face" if modality == "image" else "voice"
        lines.append(f"| {who} | {name} | {m[k]:.3f} | {interval} | {m.get(k + '/n', '')} |")
    groups = sorted(k for k in figures if k.count("/") == 4)
    if groups:
        lines += ["", "Per group (UTKFace's race/ethnicity code; used only to report, never as a label):", ""]
        lines += ["| group | attribute | balanced accuracy | files |", "|---|---|---|---|"]
        for k in groups:
            _, source, group, _, name = k.split("/")
            lines.append(f"| {source} {html.escape(group)} | {name} | {m[k]:.3f} | {m.get(k + '/n', '')} |")
    found = sorted(k for k in m if k.endswith("/face_found"))
    if found:
        lines += [
            "",
            "Face found by the detector: " + ", ".join(f"{k.split('/')[1]} {m[k]:.2f}" for k in found) + ".",
        ]
    return "\n".join(lines)


def _fit_record(path: Path) -> dict | None:
    """How an optional fitted file was fitted (read from its metadata, not its tensors); None if absent."""
    return ckpt.read_record(path) if path.is_file() else None


def _calibration(r: dict | None) -> str:
    """What the agreement table's probability and "sample new people" rest on, or that they are absent."""
    if r is None:
        return UNCALIBRATED
    rows = "\n".join(
        f"| {html.escape(pair.replace('image', 'face'))} | {s['cos_matched']:.2f} "
        f"| {s['cos_mismatched']:.2f} | {s.get('auc_cosine', s['auc']):.3f} | {s['auc']:.3f} "
        f"| {s['brier']:.3f} |"
        for pair, s in r.get("pairs_val", {}).items()
    )
    mixture = r.get("mixture", {})
    k = mixture.get("components", "?")
    # records written before the components were chosen by precision and recall have no such keys
    fit = (
        f" (the number of components whose samples best cover the val split's people without straying "
        f"from them: precision {mixture['precision'][str(k)]:.2f}, recall {mixture['recall'][str(k)]:.2f})"
        if str(k) in mixture.get("precision", {})
        else ""
    )
    return CALIBRATED.format(
        people=r.get("val_people", "?"),
        rows=rows,
        agree=AGREE_FROM,
        disagree=DISAGREE_BELOW,
        components=k,
        mixture_fit=fit,
        train=r.get("train_people", "?"),
    )


def _chinese(r: dict | None) -> str:
    if r is None:
        return ENGLISH_ONLY
    return CHINESE.format(
        pairs=r.get("pairs", "?"), val=r.get("val_pairs", "?"), acc=r.get("val_stated_accuracy", float("nan"))
    )


WHAT = """
### Model card

**What it is.** A trimodal fusion autoencoder: a conv stem turns the face (64x64) into 8x8 patch tokens,
the frozen all-MiniLM-L6-v2 encoder turns the description into word-piece states, a conv stack turns the
voice's log-mel spectrogram into tokens; one transformer fuses whichever are present through a learned
[FUSE] token into a Gaussian latent, and decoders produce a face, a description, voice parameters
(spoken by eSpeak NG) and attribute predictions from it. Checkpoint: `{checkpoint}`.
"""

FACE_DECODER = """
**Drawing faces.** The faces are drawn by a decoder fitted after the rest of the network, on its frozen
latents ({steps} batches): the shared latent says what the inputs agree on (the attributes), and a small
private latent read from the face's own pixels carries its detail (background, exact hair, light). A face
drawn without a face to read (from a description, a voice, or a sampled person) takes the private latent
that a learnt prior expects for its shared latent: a plausible face with those attributes, not a portrait
of anyone. Unseen faces of the validation splits, redrawn from everything the person gave: {scores}.
"""

TRAINED_ON_SYNTHETIC = """
**Training data.** Entirely synthetic: procedurally drawn cartoon faces, templated English descriptions and
eSpeak NG voices, generated from ground-truth attributes (gender, age group, expression, hair colour, glasses,
beard, hat, skin tone). **Real photographs are out of distribution**: the model has never seen one, so its
reading of a real face is a guess about the nearest cartoon, not a measurement.
"""

TRAINED_ON_REAL = """
**Training data.** Synthetic people (cartoon faces, templated English descriptions, eSpeak NG voices, each
with ground-truth attributes) together with real labelled photos and speech from public datasets, listed
below with their licences. Two frozen networks trained by others on real people read every face and
voice beside the model's own encoders: dlib's face descriptor and landmarks (trained on about 3 M faces)
and a GE2E speaker encoder (Resemblyzer's weights). **Licences:** several sources allow non-commercial
research only, so these weights inherit that restriction: use them to learn and explore, not in a product.
No real photo or recording is shipped with the app; the map and the examples are synthetic.
"""

PIXEL_READER = """
A small CNN trained on the same data also reads each face's attributes straight from its pixels (what the
dlib networks carry least: hats, glasses, hair colour); like theirs, its reading corrects the latent's
attribute guesses, while what is drawn, described and mapped comes from the latent alone.
"""

LONE_READERS = """
**One input alone.** The attributes read from a lone face, description or voice (shown for each input
and weighed in "same person?") pass a linear correction fitted after training, on the frozen network's
single-input embeddings: the one attribute head that reads every combination of inputs reads a voice
alone worse than its own embedding allows. Balanced accuracy on the training data's validation split,
where each correction was chosen (an attribute it did not help keeps the head's reading):

| input alone | attribute | head | with the correction |
|---|---|---|---|
{rows}
"""

CALIBRATED = """
**"Same person?"** In the agreement table, the probability that two inputs come from one person is a
logistic curve of two readings, fitted on {people} people of the training data's validation split (never
trained on): the cosine between the two inputs' single-input embeddings, and how much more likely the
attributes read from each input alone are if they come from one person than from two (a voice is
compared on its gender, age and emotion). Each person's own pairs were weighed against as many pairs of
two different people, so 0.5 means "as likely as not" when matched and random pairs are equally common.
It says "agree" from {agree} and "disagree" under {disagree}. Fitted on synthetic people: for real people
it is a rough guide, and never evidence of who someone is.

| pair | mean cosine, same person | different people | ROC AUC, cosine alone | ROC AUC | Brier score |
|---|---|---|---|---|---|
{rows}

**New people** ("sample new people", `coherence/joint`) are drawn from a {components}-component
Gaussian mixture fitted on {train} training people's embeddings{mixture_fit}, where the decoders learned
to read, not from N(0, I).
"""

CHINESE = """
**Descriptions in Chinese / 中文描述.** A small encoder reads Chinese descriptions into the same place the
network puts the English ones: it was distilled from the network's own reading of {pairs} English
descriptions, each paired with a Chinese one stating the same attributes, and reads {acc:.3f} of the
stated attributes right on {val} held-out pairs. A Chinese description is answered in Chinese and the
voice speaks Mandarin. Only simplified characters are written; traditional ones of the description
vocabulary are read. 模型可以读中文描述（繁体字也能识别常用词），并用中文回答、用普通话朗读。
"""

ENGLISH_ONLY = """
**Descriptions** are read in English only: this checkpoint has no Chinese encoder
(`python -m mmdemo fit-chinese` adds one), so a Chinese description is read at about chance.
"""

UNCALIBRATED = """
**Uncalibrated.** This checkpoint has no `calibration.safetensors`: the agreement table's verdict uses fixed
cosine cut-offs and new people are drawn from N(0, I). `python -m mmdemo calibrate` fits both.
"""

REAL_HEADER = """
**Reading real people** (validation split of the real set: people never trained on, each file analysed
alone through the public API; balanced accuracy, chance = 1 / classes):
"""

SYNTHETIC_METRICS = """
**Metrics on synthetic people** (test split of a freshly generated dataset, seed not used in training).
Coherence figures are judged by independent classifiers (`evaluator/`), trained on the model's training
split and never on its outputs; `evaluator/image_acc` and `evaluator/voice_acc` are those judges' own
accuracy on held-out faces and voices, the ceiling any coherence figure can be read against:

| metric | value |
|---|---|
{metrics}
"""

WARNING = """
**Do not use this to make decisions about people.** Its attribute guesses are often wrong, worse for some
groups than others (see the tables), and gender, age and emotion cannot be read reliably from a face or a
voice by anyone. It is a demonstration of multimodal fusion, not a measurement of a person.
"""

NOT_REAL = (
    " This checkpoint has never seen a real face or voice (or the real-feature extractors are not"
    " installed), so a real person's reading is a guess about the nearest synthetic one."
)

LIMITATIONS = """
**Limitations.** Eight attributes only; English descriptions only (other scripts become unknown tokens);
generated voices are a synthesiser's; attention maps show where the fusion transformer looks, which is
not the same as why it decides.{real}
"""

PRIVACY = """
**Privacy.** Nothing you upload, type or record is stored: inputs live in memory for the request and your
session, and "add to map" points stay in your browser session. A share link makes this app public to anyone
with the link; use `--auth` to require a password. The map shows {people} synthetic gallery people.
"""
