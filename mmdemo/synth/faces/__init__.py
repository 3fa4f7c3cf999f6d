"""The procedural face renderer, in layers that import only downward:

`palettes` (colour, style and emotion tables) <- `identity` (who a person is, how a sample
varies) <- `pen` (drawing primitives) <- `drawing` (per-render geometry and the face's
parts) <- `hair` (each hair style) <- `render` (background, parts in order, light, noise).
"""

from mmdemo.synth.faces.identity import FaceIdentity, FaceNuisance
from mmdemo.synth.faces.render import render_face

__all__ = ["FaceIdentity", "FaceNuisance", "render_face"]
