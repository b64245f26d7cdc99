"""The shells over the engine: everything here talks to it through `engine.Workspace` and the
`engine` package's public names.

    cli.py        the `tomes` command line
    server.py     `tomes serve`: the Gradio app on 127.0.0.1, closed cleanly on stop
    desktop.py    the packaged desktop app's entry point
    handlers/     what each user action does (by feature)
    ui/           the layout (typed components) and the event wiring
    views.py      how engine values render as HTML and Markdown (pure functions)
    prefs.py      what the app remembers between runs (the last project)
"""
