"""Layer: training. The loop (`loop`), its presets (`config`), the per-step objective
(`objective`) and the cached frozen text states (`textcache`). Imports data, model and the
top level; single process or DDP under torchrun."""
