"""Work split across the processes of a torchrun group, merged back in one process.

A job is cut into numbered units (batches of samples) in the order a single process would do them;
process r of w does units r, r+w, r+2w, ... and the main process receives every unit's table and puts
them back in unit order, so the merged result is row for row what one process writes. Tables travel
through the process group as Parquet bytes in uint8 tensors (no pickling, and no shared disk needed:
the processes may be on different machines).

    torchrun --nproc_per_node 2 -m mmdemo embed ...
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-endpoint HOST:PORT -m mmdemo gallery ...
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from mmdemo.runtime import Distributed

UNIT = "_unit"  # the column carrying each row's unit number while tables travel


def my_units(n_units: int, dd: Distributed) -> range:
    """The unit numbers this process does."""
    return range(dd.rank, n_units, dd.world)


def merge_on_main(parts: Mapping[int, pandas.DataFrame], dd: Distributed):  # noqa: F821
    """Every process's {unit: table} -> one table in unit order on the main process (None on the
    others). Single process: the tables concatenated in unit order."""
    import pandas as pd

    mine = [t.assign(**{UNIT: u}) for u, t in sorted(parts.items())]
    local = pd.concat(mine, ignore_index=True) if mine else pd.DataFrame({UNIT: pd.Series([], dtype="int64")})
    tables = _gather(local, dd) if dd.active else [local]
    if tables is None:
        return None
    merged = pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)
    merged = merged.sort_values(UNIT, kind="stable").drop(columns=UNIT)  # stable: rows keep their order
    return merged.reset_index(drop=True)


def _gather(table, dd: Distributed):
    """Every process's table on the main process, as Parquet bytes through the process group."""
    import pandas as pd
    import torch
    import torch.distributed as dist

    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    data = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(dd.world)]
    dist.all_gather(sizes, torch.tensor([len(data)], dtype=torch.int64))
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8)
    padded[: len(data)] = data
    received = [torch.empty(longest, dtype=torch.uint8) for _ in range(dd.world)] if dd.main else None
    dist.gather(padded, received, dst=0)
    if not dd.main:
        return None
    return [
        pd.read_parquet(io.BytesIO(r[: int(s.item())].numpy().tobytes())) for r, s in zip(received, sizes)
    ]
