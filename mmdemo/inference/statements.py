"""What the generated description of an analysis may say: only what the model is sure of.

The text decoder writes a whole person from the fused latent, and where the latent is unsure it still
commits to something (an expression, glasses, a gender) that the attribute heads, reading the same
latent, would call a coin toss or even contradict. A description shown beside the attribute table
must not say "no glasses" where the table says "glasses, 0.89". So each statement the decoder makes
is kept only when the attribute head agrees with it and is at least `SURE_FROM` sure; the rest are
left out, never replaced, so the words stay the decoder's choice of what to mention.

`decode_texts` (sampling, interpolation, `evaluate`'s text metrics) still returns the decoder's own
words: this applies to what an analysis answers.
"""

from __future__ import annotations

from collections.abc import Mapping

from mmdemo.schema import NAMES, normalise
from mmdemo.synth.descriptions import describe, parse_description, wording_rng

# The app's own line for "sure": the agreement verdict says "agree" from the same probability
# (calibration.AGREE_FROM). Chosen before the held-back wording was scored with it.
SURE_FROM = 0.75
NOTHING_SURE = {
    "en": "The model is not sure enough of any attribute to describe this person.",
    "zh": "模型对这个人的各项特征都没有把握，无法描述。",
}


def sure_statements(decoded: str, attributes: Mapping, confidences: Mapping[str, float]) -> dict[str, str]:
    """The decoded description's statements (schema strings) that the attribute heads confirm at
    `SURE_FROM` or more."""
    read = normalise(attributes)
    said = parse_description(decoded)
    return {n: v for n, v in said.items() if read.get(n) == v and confidences.get(n, 0.0) >= SURE_FROM}


def sure_description(
    decoded: str, attributes: Mapping, confidences: Mapping[str, float], lang: str = "en"
) -> str:
    """`decoded` restricted to `sure_statements`, in English ("en") or Chinese ("zh").

    English the decoder wrote is returned unchanged when every statement in it holds; otherwise (and
    always in Chinese) the kept statements are written out again, with wording drawn from a seed the
    decoded text fixes, so one analysis always reads the same."""
    kept = sure_statements(decoded, attributes, confidences)
    if not kept:
        return NOTHING_SURE[lang]
    if lang == "en" and kept == parse_description(decoded):
        return decoded
    mentions = [n for n in NAMES if n in kept]
    return describe(kept, wording_rng(decoded), mentions=mentions, lang=lang)[0]
