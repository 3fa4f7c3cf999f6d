"""mmdemo's Gradio app: capture a person, see them land in the fused space, reconstructed and attended.

This file builds the page from the tabs in `webapp/` and launches it; every computation is in
`mmdemo.serving.service`.

    python app.py [--checkpoint checkpoints/default] [--port 7860] [--share] [--auth USER:PASS]
"""

from __future__ import annotations

from mmdemo.runtime import offline_env

offline_env()  # before gradio is imported: no version check, telemetry or hub lookups

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from mmdemo.runtime import DEFAULT_CHECKPOINT  # noqa: E402
from webapp import api, map_detail  # noqa: E402
from webapp.files import serve_gallery_faces  # noqa: E402
from webapp.i18n import HEAD, I18N, T, map_legend  # noqa: E402
from webapp.loader import RUNTIME  # noqa: E402
from webapp.tabs import about, analyze, explore, live  # noqa: E402

__all__ = ["PAGE", "RUNTIME", "build", "demo", "main", "parse_args"]


def build() -> gr.Blocks:
    serve_gallery_faces()
    # delete_cache: uploads and generated files leave Gradio's temporary cache within ten minutes
    title = "mmdemo: face, words and voice in one space"
    with gr.Blocks(title=title, delete_cache=(120, 600)) as page:
        gr.Markdown(T("header"))
        last, points, table_state, overlays = gr.State(None), gr.State([]), gr.State(None), gr.State({})
        with gr.Tabs():
            with gr.Tab(T("tab_analyze")):
                analyze_c = analyze.build(points, last, overlays)
            with gr.Tab(T("tab_live")):
                live.build()
            with gr.Tab(T("tab_explore")) as explore_tab:
                explore.build(table_state, explore_tab)
            with gr.Tab(T("tab_about")):
                card = about.build()
        api.build()
        map_detail.build(table_state)

        def on_load():  # the Explore tab draws its map when first opened
            service = RUNTIME.get()
            return {
                analyze_c["map"]: service.map("emotion", 2, **map_legend()),
                card: service.model_card(),
                **analyze.empty_tables(analyze_c),
            }

        page.load(
            on_load,
            None,
            [analyze_c["map"], card, analyze_c["attrs"], analyze_c["agreement"]],
            js=f"() => {{ ({explore.CLICK_BRIDGE})(); ({map_detail.MAP_DETAIL})(); }}",
            api_visibility="private",
        )
    return page


demo = build()
# How every launch shows the page (tests launch `demo` too): its translations, the script telling the
# server which language the page shows (webapp/i18n.py), and the theme.
PAGE = dict(i18n=I18N, head=HEAD, theme=gr.themes.Soft())


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="mmdemo's web app")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: the whole network)")
    p.add_argument("--share", action="store_true", help="also serve on a public share link")
    p.add_argument("--auth", default=None, help="USER:PASS required to open the app")
    p.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu or cuda")
    p.add_argument("--max-file-size", default="20mb", help="largest upload accepted (default 20mb)")
    return p.parse_args(argv)


def _auth(args: argparse.Namespace) -> tuple[str, str] | None:
    """--auth USER:PASS as a pair; a public link without it is allowed, with a warning."""
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            sys.exit("error: --auth must look like USER:PASS")
        return user, password
    if args.share:
        print(
            "warning: --share without --auth makes the app public to anyone with the link; "
            "consider --auth USER:PASS",
            file=sys.stderr,
        )
    return None


def main(argv=None) -> None:
    args = parse_args(argv)
    if not (args.checkpoint / "config.json").is_file():
        sys.exit(
            f"error: {args.checkpoint} is not a checkpoint folder (config.json missing); "
            f"pass --checkpoint DIR or train one with `python -m mmdemo train`"
        )
    auth = _auth(args)
    from mmdemo.runtime import limit_malloc_arenas

    limit_malloc_arenas()  # before the server's threads exist: keeps memory flat under concurrent load
    RUNTIME.configure(args.checkpoint, args.device, serving=True)
    demo.queue(default_concurrency_limit=2, max_size=64)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        max_file_size=args.max_file_size,
        prevent_thread_lock=True,
        show_error=True,
        quiet=True,
        **PAGE,
    )
    # The model loads once the server answers: loaded alongside, its imports held the interpreter
    # lock the server needed to start (a second more to the first answer). Requests wait for it.
    RUNTIME.start()
    print(f"mmdemo is serving {args.checkpoint} on http://{args.host}:{args.port}", flush=True)
    if args.share:
        if demo.share_url:
            print(f"public link: {demo.share_url}", flush=True)
        else:
            print(
                "no public share link could be made (no connection to the share service); "
                "the app keeps serving locally",
                flush=True,
            )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        demo.close()


if __name__ == "__main__":
    main()
