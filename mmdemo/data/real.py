"""Real labelled face photos and speech, rebuilt from a committed manifest.

The project commits no real photo or recording. It commits `data_manifests/real.csv`: one row per
file, naming the public repository, the commit and the path it comes from, its SHA-256, its
licence and its labels already mapped onto the schema. `build_real_set` turns that manifest back
into a dataset folder (metadata.csv + images/ + audio/) that `open_samples` reads, taking each file
from a local bare mirror of the repository (`git cat-file` at the pinned commit) or, failing that,
downloading it from the repository at that commit. Every file is checked against its recorded
SHA-256 and against the held-out list before it is written; the folder is written under a
temporary name and renamed into place only when complete.

The second half (`make_manifest`, with the per-source scans in `mmdemo.data.real_sources`) is how
the manifest was made from the mirrors: each source's layout is parsed into schema labels, files
are hashed, held-out and duplicate files are dropped, and every person is put wholly in one split.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from mmdemo.data.real_sources import Candidate
from mmdemo.schema import BY_NAME, NAMES, SPLITS
from mmdemo.synth.contract import CORE_COLUMNS, staged_folder, write_metadata
from mmdemo.synth.generator import check_destination

MANIFEST_COLUMNS = tuple(
    "source repo commit path sha256 bytes licence modality labels split group person_id".split()
)
EXTRA_COLUMNS = ("source", "licence", "group", "origin")
METADATA_COLUMNS = (*CORE_COLUMNS, *EXTRA_COLUMNS)
MODALITY_FOLDERS = {"image": "images", "voice": "audio"}
VAL_SHARE = 0.1  # share of people (not files) in the validation split

# Where a file is downloaded from when no mirror holds it: the repository's own raw view at the
# pinned commit. Overridable (MMDEMO_RAW_URL) for a mirror host or a proxy.
RAW_URL = "https://github.com/{repo}/raw/{commit}/{path}"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class RealDataError(ValueError):
    """A manifest row or file that cannot be used; the message names the row and the problem."""


# ------------------------------------------------------------------ labels and manifest
def parse_labels(text: str) -> dict[str, str]:
    """ "Male=1;age_group=young" -> {"Male": "1", "age_group": "young"}, values checked by the schema."""
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, value = item.partition("=")
        if not sep or name not in BY_NAME:
            raise ValueError(f"label {item!r} is not NAME=VALUE with a schema attribute name")
        BY_NAME[name].index(value)  # raises ValueError naming the attribute
        labels[name] = value
    return labels


def format_labels(labels: dict[str, str]) -> str:
    """Schema-ordered "NAME=VALUE;..." text of a label dict (the manifest's `labels` column)."""
    return ";".join(f"{n}={labels[n]}" for n in NAMES if n in labels)


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """Rows of a manifest CSV, every field validated; raises RealDataError naming the line."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RealDataError(f"{path}: missing columns {', '.join(missing)}")
        rows = list(reader)
    for line, row in enumerate(rows, start=2):
        _check_row(row, f"{path.name} line {line}")
    return rows


def _check_row(row: dict[str, str], where: str) -> None:
    if None in row or any(v is None for v in row.values()):
        raise RealDataError(f"{where}: wrong number of fields")
    problems = []
    if not _REPO.match(row["repo"]):
        problems.append(f"repo {row['repo']!r} is not owner/name")
    if not _COMMIT.match(row["commit"]):
        problems.append(f"commit {row['commit']!r} is not 40 hex digits")
    if not _SHA256.match(row["sha256"]):
        problems.append(f"sha256 {row['sha256']!r} is not 64 lowercase hex digits")
    if row["modality"] not in MODALITY_FOLDERS:
        problems.append(f"modality {row['modality']!r} is not one of {', '.join(MODALITY_FOLDERS)}")
    if row["split"] not in SPLITS:
        problems.append(f"split {row['split']!r} is not one of {', '.join(SPLITS)}")
    if not row["path"] or row["path"].startswith("/") or ".." in row["path"].split("/"):
        problems.append(f"path {row['path']!r} is not a relative path inside the repository")
    try:
        parse_labels(row["labels"])
    except ValueError as e:
        problems.append(str(e))
    if problems:
        raise RealDataError(f"{where}: {'; '.join(problems)}")


def write_manifest(path: str | Path, rows: Iterable[dict[str, str]]) -> None:
    """Writes manifest rows (sorted, so a re-made manifest diffs cleanly)."""
    ordered = sorted(rows, key=lambda r: (r["source"], r["repo"], r["path"]))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ordered)


def default_heldout_path() -> Path | None:
    """The held-out hash list: $MMDEMO_HELDOUT, else shared/heldout/sha256.txt beside the checkout."""
    env = os.environ.get("MMDEMO_HELDOUT")
    if env:
        return Path(env)
    candidate = Path(__file__).resolve().parents[3] / "shared" / "heldout" / "sha256.txt"
    return candidate if candidate.is_file() else None


def load_heldout(source: str | Path | Iterable[str] | None) -> frozenset[str]:
    """SHA-256 hashes never to use: a file of hashes (one a line, `sha256sum` output works too),
    an iterable of hashes, or None for `default_heldout_path()` (empty when there is none)."""
    if source is None:
        source = default_heldout_path()
        if source is None:
            return frozenset()
    if isinstance(source, (str, Path)):
        lines = Path(source).read_text(encoding="utf-8").splitlines()
        return frozenset(
            line.split()[0].lower() for line in lines if line.strip() and not line.startswith("#")
        )
    return frozenset(h.lower() for h in source)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ reading files at a commit
class GitMirror:
    """Reads blobs out of one bare git directory through a single `git cat-file --batch` process
    (one process per file would cost more than the copy for tens of thousands of small files)."""

    def __init__(self, git_dir: str | Path):
        self.git_dir = Path(git_dir)
        self._proc = subprocess.Popen(
            ["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def read(self, commit: str, path: str) -> bytes | None:
        """The file's bytes at `commit`, or None when the mirror lacks it."""
        if "\n" in path:
            return None
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(f"{commit}:{path}\n".encode())
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode().split()
        if len(header) != 3 or header[1] != "blob":
            return None  # "<name> missing", or a tree
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=30)


def find_git_dir(mirrors: str | Path, repo: str) -> Path | None:
    """The bare git directory of `repo` ("owner/name") under a mirrors folder, if there is one.

    Mirrors are laid out as MIRRORS/owner+name/ (itself bare) or MIRRORS/owner+name/repo/."""
    base = Path(mirrors) / repo.replace("/", "+")
    for candidate in (base / "repo", base):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def raw_url(repo: str, commit: str, path: str) -> str:
    template = os.environ.get("MMDEMO_RAW_URL", RAW_URL)
    return template.format(repo=repo, commit=commit, path=urllib.parse.quote(path))


def download(repo: str, commit: str, path: str, timeout: float = 60.0, attempts: int = 3) -> bytes:
    """The file at `commit` from the public repository; retries transient failures."""
    url = raw_url(repo, commit, path)
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.read()
        except OSError as e:  # URLError, HTTPError and timeouts are all OSErrors
            if attempt == attempts - 1 or getattr(e, "code", 500) < 500:
                raise RealDataError(f"cannot download {repo}@{commit[:10]}:{path} ({e})") from None
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


class FileSource:
    """Bytes of manifest rows: from local mirrors when they hold the file, else downloaded."""

    def __init__(self, mirrors: str | Path | None, allow_download: bool = True):
        self.mirrors = Path(mirrors) if mirrors else None
        self.allow_download = allow_download
        self._open: dict[str, GitMirror | None] = {}

    def read(self, repo: str, commit: str, path: str) -> tuple[bytes, str]:
        """(bytes, "mirror" | "download"); raises RealDataError when neither can supply the file."""
        mirror = self._mirror(repo)
        data = mirror.read(commit, path) if mirror else None
        if data is not None:
            return data, "mirror"
        if not self.allow_download:
            raise RealDataError(f"{repo}@{commit[:10]}:{path} is in no local mirror and downloads are off")
        return download(repo, commit, path), "download"

    def _mirror(self, repo: str) -> GitMirror | None:
        if repo not in self._open:
            git_dir = find_git_dir(self.mirrors, repo) if self.mirrors else None
            self._open[repo] = GitMirror(git_dir) if git_dir else None
        return self._open[repo]

    def close(self) -> None:
        for mirror in self._open.values():
            if mirror:
                mirror.close()
        self._open.clear()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------ rebuilding the set
def build_real_set(
    manifest: str | Path,
    out: str | Path,
    mirrors: str | Path | None = None,
    *,
    heldout: str | Path | Iterable[str] | None = None,
    allow_download: bool = True,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Rebuilds the dataset folder at `out` from `manifest`; returns `out`.

    Each file comes from `mirrors` (a folder of bare git mirrors) or is downloaded at its pinned
    commit. A file whose SHA-256 differs from the manifest's, or that is on the held-out list
    (`heldout`, see `load_heldout`), is refused: the build stops with RealDataError and nothing is
    left at `out`."""
    rows = read_manifest(manifest)
    blocked = load_heldout(heldout)
    for line, row in enumerate(rows, start=2):
        if row["sha256"] in blocked:
            raise RealDataError(
                f"manifest line {line}: {row['path']} is on the held-out list; remove that row"
            )
    out = Path(out)
    check_destination(out, overwrite)
    with staged_folder(out) as tmp:
        meta = []
        with FileSource(mirrors, allow_download) as files:
            for done, row in enumerate(rows, start=1):
                meta.append(_materialise(files, tmp, row, blocked))
                if progress:
                    progress(done, len(rows))
        write_metadata(tmp / "metadata.csv", METADATA_COLUMNS, meta)
        (tmp / "summary.json").write_text(json.dumps(summarise(rows), indent=2) + "\n", encoding="utf-8")
    return out


def _materialise(
    files: FileSource, root: Path, row: dict[str, str], blocked: frozenset[str]
) -> dict[str, str]:
    """Fetches, verifies and writes one manifest row's file; returns its metadata.csv row."""
    data, _ = files.read(row["repo"], row["commit"], row["path"])
    digest = sha256_of(data)
    where = f"{row['repo']}@{row['commit'][:10]}:{row['path']}"
    if digest != row["sha256"]:
        raise RealDataError(
            f"{where}: SHA-256 {digest} does not match the manifest's {row['sha256']}; refusing it"
        )
    if digest in blocked:
        raise RealDataError(f"{where}: on the held-out list; refusing it")
    sample_id = f"{_slug(row['source'])}-{digest[:16]}"
    rel = Path(MODALITY_FOLDERS[row["modality"]]) / f"{sample_id}{Path(row['path']).suffix.lower()}"
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    labels = parse_labels(row["labels"])
    meta = {
        "id": sample_id,
        "split": row["split"],
        "person_id": row["person_id"],
        "image": rel.as_posix() if row["modality"] == "image" else "",
        "text": "",
        "audio": rel.as_posix() if row["modality"] == "voice" else "",
        "text_mentions": "",
        "source": row["source"],
        "licence": row["licence"],
        "group": row["group"],
        "origin": f"{row['repo']}@{row['commit']}:{row['path']}",
    }
    meta.update({name: labels.get(name, "") for name in NAMES})
    return meta


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "real"


def summarise(rows: list[dict[str, str]]) -> dict:
    """Counts of manifest rows per source, modality, split, licence and attribute value."""

    def count(key: Callable[[dict[str, str]], str | None]) -> dict[str, int]:
        return dict(sorted(Counter(k for r in rows if (k := key(r))).items()))

    by_source = {}
    for source in sorted({r["source"] for r in rows}):
        mine = [r for r in rows if r["source"] == source]
        by_source[source] = {
            "files": len(mine),
            "people": len({r["person_id"] for r in mine}),
            "repos": sorted({f"{r['repo']}@{r['commit']}" for r in mine}),
            "licence": sorted({r["licence"] for r in mine}),
            "modality": dict(Counter(r["modality"] for r in mine)),
            "split": dict(sorted(Counter(r["split"] for r in mine).items())),
            "attributes": _attribute_counts(mine),
            "group": dict(sorted(Counter(r["group"] for r in mine if r["group"]).items())),
        }
    return {
        "files": len(rows),
        "people": len({r["person_id"] for r in rows}),
        "modality": count(lambda r: r["modality"]),
        "split": count(lambda r: r["split"]),
        "split_by_modality": count(lambda r: f"{r['modality']}/{r['split']}"),
        "attributes": _attribute_counts(rows),
        "sources": by_source,
    }


def _attribute_counts(rows: list[dict[str, str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = {name: Counter() for name in NAMES}
    for r in rows:
        for name, value in parse_labels(r["labels"]).items():
            counts[name][value] += 1
    return {name: dict(sorted(c.items())) for name, c in counts.items() if c}


# ------------------------------------------------------------------ making the manifest
def assign_split(person_id: str, val_share: float = VAL_SHARE) -> str:
    """train or val from a stable hash of the person, so a person's files all land in one split."""
    bucket = int(hashlib.sha256(person_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if bucket < val_share else "train"


def make_manifest(
    candidates: Iterable[Candidate],
    mirrors: str | Path,
    licence: Callable[[Candidate], str],
    *,
    heldout: frozenset[str],
    check: Callable[[Candidate, bytes], bool] | None = None,
) -> tuple[list[dict[str, str]], Counter]:
    """Manifest rows of the candidates that are readable, not held out and not duplicates.

    Returns (rows, dropped) where `dropped` counts why files were left out, per source."""
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    dropped: Counter = Counter()
    with FileSource(mirrors, allow_download=False) as files:
        for c in candidates:
            data, _ = files.read(c.repo, c.commit, c.path)
            digest = sha256_of(data)
            reason = _drop_reason(c, data, digest, seen, heldout, check)
            if reason:
                dropped[(c.source, reason)] += 1
                continue
            seen.add(digest)
            rows.append(_manifest_row(c, digest, len(data), licence(c)))
    return rows, dropped


def _drop_reason(
    c: Candidate,
    data: bytes,
    digest: str,
    seen: set[str],
    heldout: frozenset[str],
    check: Callable[[Candidate, bytes], bool] | None,
) -> str | None:
    if digest in heldout:
        return "held-out"
    if digest in seen:  # the same bytes under two names would straddle splits or double-count
        return "duplicate"
    if check is not None and not check(c, data):
        return "unreadable"
    return None


def _manifest_row(c: Candidate, digest: str, size: int, licence: str) -> dict[str, str]:
    return {
        "source": c.source,
        "repo": c.repo,
        "commit": c.commit,
        "path": c.path,
        "sha256": digest,
        "bytes": str(size),
        "licence": licence,
        "modality": c.modality,
        "labels": format_labels(c.labels),
        "split": assign_split(c.person_id),
        "group": c.group,
        "person_id": c.person_id,
    }


TRAINING_DATA_FILE = "training_data.json"  # beside a checkpoint's config.json


def training_data_record(folders: list[Path]) -> dict:
    """What a run trained on, for its checkpoint's `training_data.json` and model card: per real
    source (a folder built by `build_real_set`, which writes summary.json) its files, repositories
    and licence; per other folder the number of samples, as synthetic or the user's own data."""
    from mmdemo.data.loaders import open_samples

    record: dict = {"folders": [], "sources": {}}
    for folder in folders:
        summary = Path(folder) / "summary.json"
        if summary.is_file():
            sources = json.loads(summary.read_text(encoding="utf-8")).get("sources", {})
            for name, s in sources.items():
                record["sources"][name] = {k: s[k] for k in ("files", "people", "repos", "licence") if k in s}
            record["folders"].append({"path": str(folder), "kind": "real", "sources": sorted(sources)})
        else:
            record["folders"].append(
                {"path": str(folder), "kind": "other", "samples": len(open_samples(folder))}
            )
    return record
