"""Layer: the synthetic dataset. Procedural faces (`faces/`), templated descriptions and their
parser (`descriptions`), eSpeak NG voices (`voices`) and the generator that writes a dataset
folder (`generator`). Imports only the top-level plumbing (schema, audio)."""
