"""How library refusals reach the user: a ValueError from `mmdemo` becomes a visible message, in the
page's language, and the server keeps serving."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import gradio as gr

from webapp.messages import refusal, warning


def refuse(fn):
    """Library refusals (ValueError) become a visible message; the server keeps serving.

    `functools.wraps` sets `__wrapped__`, so Gradio inspects `fn`'s own signature: it injects a
    `gr.Progress()` default, and API clients see the real parameter names."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as e:
            raise refusal(str(e)) from None

    return wrapped


def warn(messages: Iterable[str]) -> None:
    """The library's warnings about an input (no face found, a voice too long...) as toasts."""
    for m in messages:
        warning(m)
