"""The About tab: the model card (metrics, gallery size, checkpoint), filled in when the page loads."""

from __future__ import annotations

import gradio as gr


def build() -> gr.Markdown:
    """The tab's one component: the model card's Markdown, empty until the page's load event fills it
    (the model may still be loading while the page is built)."""
    return gr.Markdown()
