"""Layer: the synthetic dataset. Procedural faces (`faces/`), templated descriptions and their
parser (`descriptions`), eSpeak NG voices (`voices`), the generator that writes a dataset
folder (`generator`) and the contract such a folder meets (`contract`). Imports only the
top-level plumbing (schema, audio)."""
