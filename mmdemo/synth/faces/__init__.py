"""The procedural face renderer: who a person is (`identity`), how each part is drawn
(`drawing`) and the renderer that composes a face from attributes (`render`)."""

from mmdemo.synth.faces.render import FaceIdentity, FaceNuisance, render_face

__all__ = ["FaceIdentity", "FaceNuisance", "render_face"]
