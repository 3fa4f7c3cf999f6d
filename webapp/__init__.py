"""The web UI: a Gradio app over `mmdemo.serving.service.DemoService`.

This layer is the only place in the project that imports gradio; the `mmdemo` package
never does. `app.py` builds the page from the tab modules here and launches it.

- `loader`: the service, loaded once in a background thread.
- `errors`: library refusals shown as messages, with the handler's real signature kept.
- `i18n`: the page's text in English and Chinese, and the language each request is answered in;
  `messages`: what the server says, in that language.
- `files`: generated faces, voices and downloads as short-lived files.
- `api`: the hidden `/analyze` endpoint for API clients.
- `tabs`: one module per tab (analyze, live, explore, about), each with its layout and callbacks.
"""
