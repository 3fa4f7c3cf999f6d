"""Layer: a trained model in use. `load_model` and the one model class with `analyze` and the
batched `embed` (`model`), attention maps (`attention`), the map's gallery and placement
(`projection`) and embedding export to Parquet and the Embedding Projector (`export`).
Imports model, data and the top level."""

from mmdemo.inference.model import Analysis, Inputs, MultimodalModel, load_model

__all__ = ["Analysis", "Inputs", "MultimodalModel", "load_model"]
