"""The `tomes` command line. Every command is a thin shell over engine calls; engine errors
become one-line messages here (exit status 1) and nowhere else."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import click

from engine.errors import TomesError
from engine.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


# The engine names settings; on the command line, say which flag sets them.
_FLAGS = {
    "model.base_url": "--base-url",
    "model.n_ctx": "--n-ctx",
    "model.threads": "--threads",
    "model.path": "--model",
    "model.backend": "--backend",
    "retrieval.budget": "--budget",
    "ingest.chunk_tokens": "--chunk-tokens",
    "ingest.workers": "--workers",
}


def _cli_hint(exc: TomesError) -> str:
    from engine.errors import ProjectNotFound, SettingsError

    if isinstance(exc, ProjectNotFound):
        return "create a project with: tomes ingest FILE... --project NAME"
    if isinstance(exc, SettingsError):
        flags = [flag for key, flag in _FLAGS.items() if key in str(exc)]
        if flags:
            return "on the command line: " + ", ".join(dict.fromkeys(flags))
    return ""


def _friendly(fn: F) -> F:
    """Turn engine errors into `Error: …` and exit status 1 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TomesError as exc:
            hint = _cli_hint(exc)
            raise click.ClickException(f"{exc} ({hint})" if hint else str(exc)) from None
        except sqlite3.Error as exc:  # never a raw "OperationalError: database is locked"
            from engine.errors import store_error

            raise click.ClickException(str(store_error(exc))) from None

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    return Settings.load(overrides=overrides)


class _Status:
    """A one-line progress status on a terminal (stderr); silent when not a TTY."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.width = 0

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        text = text[:110]
        self.stream.write("\r" + text + " " * max(0, self.width - len(text)))
        self.stream.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = width * done // max(total, 1)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{total}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tomes")
def cli() -> None:
    """Tomes: ask questions across whole document collections, locally, with cited answers.

    All data lives under TOMES_HOME (default: your user data folder). Nothing leaves this
    machine.
    """


# ---------------------------------------------------------------------------------- projects
@cli.command("projects")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_friendly
def projects_cmd(as_json: bool) -> None:
    """List projects with their document and chunk counts."""
    from engine import Workspace

    workspace = Workspace(_settings())
    try:
        rows = [
            {"name": p.name, **workspace.stats(p), "folder": str(p.folder)}
            for p in workspace.list_projects()
        ]
    finally:
        workspace.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No projects yet. Start one with: tomes ingest FILE... --project NAME")
        return
    for r in rows:
        click.echo(
            f"{r['name']}\t{r['documents']} documents\t{r['chunks']} chunks\t{r['tokens']} tokens"
        )


# ---------------------------------------------------------------------------------- ingest
def _read_scans(workspace: Any, proj: Any, status: _Status) -> int:
    """OCR the project's unread scanned pages, one stderr line per page (on a terminal: a
    progress bar, and a line only for pages that need attention); returns how many pages
    were read."""
    from ingest.ocr import OcrUnavailable

    read = 0
    try:
        for step in workspace.read_scans(proj):
            if not step.page:
                continue
            read += 1
            where = f"{step.document} p. {step.page}"
            status.show(f"{_bar(step.done, step.total)} reading scanned pages ({where})")
            note = step.error or {
                "text": f"read (confidence {step.confidence:.2f})",
                "low_confidence": f"read with low confidence ({step.confidence:.2f}): check it",
                "unreadable": f"unreadable (confidence {step.confidence:.2f}): not indexed",
                "blank": "blank",
            }.get(step.status, step.status)
            if not status.enabled or step.status not in ("text", "blank"):
                status.clear()
                click.echo(f"ocr       {where}: {note}", err=True)
    except OcrUnavailable as exc:
        status.clear()
        click.echo(f"ocr       scanned pages not read: {exc}", err=True)
    return read


@cli.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--project", "-p", required=True, help="Project to add to (created if new).")
@click.option(
    "--chunk-tokens", type=int, default=None, help="Largest chunk in tokens (default 400)."
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Processes reading files in parallel (default: one per CPU core; 1 = none).",
)
@click.option(
    "--no-ocr",
    is_flag=True,
    help="Do not read scanned pages now (the app's background job reads them later).",
)
@click.option(
    "--no-embed",
    is_flag=True,
    help="Skip embedding (keyword search only until `tomes index` runs).",
)
@_friendly
def ingest_cmd(
    paths: tuple[Path, ...],
    project: str,
    chunk_tokens: int | None,
    workers: int | None,
    no_ocr: bool,
    no_embed: bool,
) -> None:
    """Add files, folders (honoring .gitignore) or .zip archives to a project.

    Prints one line per file: ok, unchanged, replaced, skipped or failed with the reason.
    Scanned pages (PDF pages without text, image files) are then read with OCR, with
    progress per page on stderr, unless --no-ocr. Then it builds the keyword index and
    embeds what was added (with progress; `--no-embed` skips that), so the first question
    has dense search. Ctrl-C while embedding keeps what was embedded; `tomes index`
    finishes it. Exits with status 1 if any file failed; the others are still added.
    """
    from engine import Workspace

    workspace = Workspace(
        _settings(**{"ingest.chunk_tokens": chunk_tokens, "ingest.workers": workers})
    )
    proj = workspace.project(project, create=True)
    status = _Status(sys.stderr)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    try:
        for event in workspace.ingest(proj, list(paths), background_index=False):
            if event.status == "reading":
                status.show(f"{_bar(event.done, event.total)} reading {event.name}")
                continue
            status.clear()
            counts[event.status] = counts.get(event.status, 0) + 1
            label = {"added": "ok", "replaced": "ok"}.get(event.status, event.status)
            detail = []
            if event.ok and event.status != "unchanged":
                if event.n_pages:
                    detail.append(_plural(event.n_pages, "page"))
                detail.append(_plural(event.n_chunks, "chunk"))
                if event.status == "replaced":
                    detail.append("replaced the old version")
            line = f"{label:<9} {event.name}"
            if detail:
                line += f" ({', '.join(detail)})"
            if event.reason:
                line += f": {event.reason}"
            click.echo(line, err=event.failed)
        read = 0
        if not no_ocr and workspace.settings_for(proj).ocr.enabled:
            read = _read_scans(workspace, proj, status)
        embedded = False
        # Pages read by OCR are new chunks too (also those left by an earlier --no-ocr run).
        if counts.get("added", 0) + counts.get("replaced", 0) + read:
            for step in workspace.build_keywords(proj):
                status.show(f"{_bar(step.done, step.total)} keyword index")
            ingest_settings = workspace.settings_for(proj).ingest
            waiting = 0
            if not no_embed and ingest_settings.embed:
                waiting = workspace.pending_embeddings(proj)
            if waiting > ingest_settings.embed_max:
                no_embed = True  # a huge batch: keyword search now, meaning search later
                click.echo(
                    f"{waiting:,} passages to embed, more than ingest.embed_max "
                    f"({ingest_settings.embed_max:,}): keyword search is ready now; "
                    f"`tomes index --project {proj.name!r}` (or the app, in the background) "
                    "adds meaning-based search.",
                    err=True,
                )
            if not no_embed and ingest_settings.embed:
                try:
                    for step in workspace.build_embeddings(proj):
                        status.show(f"{_bar(step.done, step.total)} embedding passages")
                        embedded = True
                except KeyboardInterrupt:
                    status.clear()
                    click.echo(
                        "Embedding stopped; what was embedded is kept. "
                        f"Run `tomes index --project {proj.name!r}` to finish it.",
                        err=True,
                    )
                    sys.exit(130)
                if not embedded and (problem := workspace.embedder_problem):
                    click.echo(problem, err=True)
    finally:
        status.clear()
        workspace.close()
    elapsed = time.perf_counter() - started
    ok = counts.get("added", 0) + counts.get("replaced", 0)
    summary = (
        f"{ok} added, {counts.get('unchanged', 0)} unchanged, {counts.get('skipped', 0)} skipped, "
        f"{counts.get('failed', 0)} failed in {elapsed:.1f}s (project {proj.name!r})"
    )
    click.echo(summary, err=True)
    if ok:
        what = "the summary tree" if embedded else "embeddings and the summary tree"
        click.echo(
            f"Ask now, or run `tomes index --project {proj.name!r}` to add {what} "
            "(better recall and whole-document answers).",
            err=True,
        )
    if counts.get("failed"):
        sys.exit(1)


# ---------------------------------------------------------------------------------- ask
def _model_options(fn: F) -> F:
    """Options that choose and tune the model, shared by every command that runs one."""
    options = [
        click.option(
            "--model",
            "model_path",
            default=None,
            help="A .gguf model file (default: the embedded model).",
        ),
        click.option("--backend", default=None, help="llama.cpp (default), torch or openai."),
        click.option(
            "--base-url", default=None, help="OpenAI-compatible server URL (--backend openai)."
        ),
        click.option(
            "--api-model", default=None, help="Model name on the OpenAI-compatible server."
        ),
        click.option("--n-ctx", type=int, default=None, help="Model context window in tokens."),
        click.option(
            "--threads", type=int, default=None, help="CPU threads (default: physical cores)."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _model_overrides(
    model_path: str | None,
    backend: str | None,
    base_url: str | None,
    api_model: str | None,
    n_ctx: int | None,
    threads: int | None,
) -> dict[str, Any]:
    return {
        "model.path": model_path,
        "model.backend": backend,
        "model.base_url": base_url,
        "model.api_model": api_model,
        "model.n_ctx": n_ctx,
        "model.threads": threads,
    }


def _print_citations(answer: Any) -> None:
    if not answer.citations:
        return
    click.echo()
    for c in answer.citations:
        mark = "" if c.verified else "  (unverified)"
        quote = f' "{" ".join(c.quote.split())[:160]}"' if c.quote else ""
        click.secho(f"[{c.key}] {c.label()}{mark}", bold=True, nl=False)
        click.echo(quote)


@cli.command("ask")
@click.argument("question")
@click.option("--project", "-p", required=True, help="Project to ask.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (see README).")
@click.option("--retrieve-only", is_flag=True, help="Only show the context; no model runs.")
@click.option("--budget", type=int, default=None, help="Context budget in tokens.")
@click.option(
    "--document",
    "-d",
    "documents",
    multiple=True,
    help="Answer from this document only (its file name, or a part of it only one document "
    "has); repeat for several.",
)
@_model_options
@_friendly
def ask_cmd(
    question: str,
    project: str,
    as_json: bool,
    retrieve_only: bool,
    budget: int | None,
    documents: tuple[str, ...],
    **model: Any,
) -> None:
    """Ask a question about a project's documents; the answer cites pages and lines.

    The answer streams as it is written; its citations (document, page or lines, and the
    quoted source text) follow. A question that names a document ("the Acme agreement") is
    answered from it alone; --document chooses documents yourself. With --retrieve-only, only
    the context is shown.
    """
    from engine import Workspace
    from engine.types import Answer, AnswerState, Timings

    overrides = {"retrieval.budget": budget, **_model_overrides(**model)}
    workspace = Workspace(_settings(**overrides))
    try:
        proj = workspace.project(project)
        doc_ids = (
            [d.id for d in workspace.resolve_documents(proj, documents)] if documents else None
        )
        if retrieve_only:
            items, elapsed = workspace.retrieve(proj, question, documents=doc_ids)
            answer = Answer(
                question=question,
                text="",
                citations=(),
                context=tuple(items),
                timings=Timings(retrieve_s=elapsed, total_s=elapsed),
            )
            if as_json:
                click.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
            elif not items:
                click.echo("Nothing in this project matches that question.")
            else:
                for item in items:
                    level = f" (summary, level {item.level})" if item.level else ""
                    click.secho(
                        f"[{item.key}] {item.document} {item.locator.label()}{level}", bold=True
                    )
                    text = " ".join(item.text.split())
                    click.echo("    " + (text[:400] + "…" if len(text) > 400 else text))
            return
        stream = workspace.ask(proj, question, documents=doc_ids)
        streamed = ""
        for piece in stream:
            streamed += piece
            if not as_json:
                click.echo(piece, nl=False)
        answer = stream.result()
    finally:
        workspace.close()
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo()
    if answer.text.strip() != streamed.strip():
        # keys attached, unsupported sentences removed, or the answer flagged: the checked
        # version is the answer
        click.echo("\nChecked answer:\n" + answer.text)
    _print_citations(answer)
    if answer.state is not AnswerState.FOUND and answer.context:
        click.echo("\nClosest passages:")
        for item in answer.context[:3]:
            text = " ".join(item.text.split())
            click.secho(f"[{item.key}] {item.document} {item.locator.label()}", bold=True, nl=False)
            click.echo(f" {text[:200]}" + ("…" if len(text) > 200 else ""))
    for removed in answer.removed:
        click.secho(f"Removed from the answer: {removed}", fg="yellow", err=True)
    for notice in answer.notices:
        click.secho(notice, fg="yellow", err=True)


# ---------------------------------------------------------------------------------- index
@cli.command("index")
@click.option("--project", "-p", required=True, help="Project to index.")
@click.option("--no-tree", is_flag=True, help="Only compute embeddings; skip the summary tree.")
@_model_options
@_friendly
def index_cmd(project: str, no_tree: bool, **model: Any) -> None:
    """Build or extend the project's embeddings and summary tree (resumable: stop it any
    time with Ctrl-C and run it again to continue where it stopped)."""
    from engine import Workspace

    workspace = Workspace(_settings(**_model_overrides(**model)))
    status = _Status(sys.stderr)
    last_phase: str = ""
    started = time.perf_counter()
    try:
        proj = workspace.project(project)
        for step in workspace.index(proj, tree=not no_tree):
            if step.phase != last_phase and last_phase:
                status.clear()
                click.echo(f"{last_phase}: done", err=True)
            last_phase = step.phase
            what = step.phase.label.lower()
            status.show(f"{_bar(step.done, step.total)} {what}")
        status.clear()
        if last_phase:
            click.echo(f"{last_phase}: done", err=True)
        st = workspace.index_status(proj)
        click.echo(
            f"Indexed {proj.name!r} in {time.perf_counter() - started:.1f}s: "
            f"{st.embedded} vectors, summary tree {st.tree.done}/{st.tree.total} nodes."
        )
        if problem := workspace.embedder_problem:
            click.secho(problem, fg="yellow", err=True)
    except KeyboardInterrupt:
        status.clear()
        click.echo("Stopped. Run the same command again to continue where it stopped.", err=True)
        sys.exit(130)
    finally:
        workspace.close()


# ---------------------------------------------------------------------------------- export
@cli.command("export")
@click.option("--project", "-p", required=True, help="Project to export from.")
@click.option(
    "--format", "fmt", type=click.Choice(["docx", "md"]), required=True, help="Report format."
)
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="File to write.")
@click.option(
    "--answer", "answers", type=int, multiple=True, help="Also include this answer (message id)."
)
@_friendly
def export_cmd(
    project: str, fmt: Literal["docx", "md"], out: Path, answers: tuple[int, ...]
) -> None:
    """Export the project's notes (and chosen answers) with their citations."""
    from engine import Workspace

    workspace = Workspace(_settings())
    try:
        path, sections = workspace.export_report(
            workspace.project(project), out, fmt=fmt, message_ids=answers
        )
    finally:
        workspace.close()
    click.echo(f"Wrote {sections} section(s) to {path}")


# ---------------------------------------------------------------------------------- grid
#: The grid `tomes grid` saves in the project (its cells are reused by the next run; the app's
#: Grid tab shows it too).
CLI_GRID = "Command line"


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


@cli.command("grid")
@click.option("--project", "-p", required=True, help="Project to review.")
@click.option(
    "--question", "-q", "questions", multiple=True, help="A question (a column); repeatable."
)
@click.option("--preset", default=None, help='Questions of a preset, e.g. "Contract review".')
@click.option(
    "--document",
    "-d",
    "document_names",
    multiple=True,
    help="A document (a row), by name or part of it; repeatable (default: every document).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (see README).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the grid to FILE.xlsx, .csv, .docx or .md.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Cells asked at once (backend openai; an in-process model answers one at a time).",
)
@_model_options
@_friendly
def grid_cmd(
    project: str,
    questions: tuple[str, ...],
    preset: str | None,
    document_names: tuple[str, ...],
    as_json: bool,
    out: Path | None,
    concurrency: int,
    **model: Any,
) -> None:
    """Ask the same questions of every document: a review grid of short cited answers.

    Rows are documents, columns are questions; each cell is found, not_found or unclear, with
    the page or lines and the quote it rests on. Cells already computed with the same model and
    settings are reused, so running the same command again (after Ctrl-C, or after adding a
    question) computes only what is missing. Exits with status 1 if any cell failed; the rest
    complete.
    """
    from engine import Workspace
    from engine.errors import TomesError
    from engine.types import CellState, GridColumn

    fmt = None
    if out is not None:
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("xlsx", "csv", "docx", "md"):
            raise click.BadParameter("write .xlsx, .csv, .docx or .md", param_hint="--out")
    workspace = Workspace(_settings(**_model_overrides(**model)))
    status = _Status(sys.stderr)
    started = time.perf_counter()
    try:
        proj = workspace.project(project)
        columns: list[GridColumn] = []
        if preset:
            columns += workspace.preset(preset).columns
        columns += [GridColumn(" ".join(q.split())) for q in questions if q.strip()]
        if not columns:
            raise TomesError('give questions with --question "…", or a --preset')
        docs = workspace.resolve_documents(proj, document_names) if document_names else []
        if not workspace.documents(proj):
            raise TomesError(f"project {proj.name!r} has no documents yet; add some first")
        grid = workspace.put_grid(proj, CLI_GRID, columns, [d.id for d in docs])
        last = None
        try:
            for step in workspace.run_grid(proj, grid.id, concurrency=concurrency):
                last = step
                left = f" · about {_clock(step.estimate_s)} left" if step.estimate_s else ""
                failed = f" · {step.failed} failed" if step.failed else ""
                status.show(
                    f"{_bar(step.done, step.total)} cells · {_clock(step.elapsed_s)}{left}{failed}"
                )
        except KeyboardInterrupt:
            status.clear()
            click.echo(
                "Stopped. Finished cells are kept: run the same command again to continue.",
                err=True,
            )
            sys.exit(130)
        status.clear()
        page = workspace.grid_page(proj, grid.id)
        if out is not None and fmt is not None:
            written = workspace.export_grid(proj, grid.id, out, fmt=fmt)  # type: ignore[arg-type]
    finally:
        status.clear()
        workspace.close()
    elapsed = time.perf_counter() - started
    failed_cells = [c for r in page.rows for c in r.cells if c.state is CellState.FAILED]
    computed = last.computed if last else 0
    if as_json:
        data = {
            "columns": list(page.grid.questions),
            "rows": [
                {"document": r.document, "cells": [c.to_json() for c in r.cells]} for r in page.rows
            ],
            "timings": {
                "total_s": round(elapsed, 3),
                "cells": page.total_cells,
                "computed": computed,
                "reused": page.total_cells - computed,
                "cells_per_min": round(last.cells_per_min, 2) if last else 0.0,
            },
            "usage": {
                "prompt_tokens": last.prompt_tokens if last else 0,
                "completion_tokens": last.completion_tokens if last else 0,
            },
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        titles = {c.question: c.title for c in page.grid.columns}
        for row in page.rows:
            click.secho(row.document, bold=True)
            for cell in row.cells:
                where = ", ".join(dict.fromkeys(c.locator.label() for c in cell.citations))
                if cell.state is CellState.FAILED:
                    text = f"failed: {cell.error}"
                else:
                    text = cell.answer + (f"  ({where})" if where else "")
                click.echo(f"  {titles.get(cell.question, cell.question)}: {text}")
    click.echo(
        f"{page.total_rows} documents x {len(page.grid.columns)} questions: {computed} cells "
        f"computed, {page.total_cells - computed} reused, {len(failed_cells)} failed, in "
        f"{_clock(elapsed)}.",
        err=True,
    )
    if out is not None:
        click.echo(f"Wrote the grid to {written}", err=True)
    if failed_cells:
        sys.exit(1)


# ---------------------------------------------------------------------------------- settings
@cli.command("settings")
@click.option("--project", "-p", default=None, help="Show this project's effective settings.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_friendly
def settings_cmd(project: str | None, as_json: bool) -> None:
    """Show every setting: its value, default, environment variable and meaning."""
    from engine import Workspace
    from engine.settings import Settings

    settings = _settings()
    if project:
        workspace = Workspace(settings)
        try:
            settings = workspace.settings_for(workspace.project(project))
        finally:
            workspace.close()
    values = settings.to_dict()
    if values.get("model.api_key"):
        values["model.api_key"] = "***"  # never echo a secret
    rows = [
        {"setting": key, "value": values[key], "default": default, "env": env, "help": text}
        for key, env, default, text in Settings.describe()
    ]
    if as_json:
        click.echo(json.dumps({"home": str(settings.home), "settings": rows}, indent=2))
        return
    click.echo(f"TOMES_HOME = {settings.home}")
    for row in rows:
        click.secho(f"{row['setting']} = {row['value']!r}", bold=True, nl=False)
        click.echo(f"   [{row['env']}]  {row['help']}")


# ---------------------------------------------------------------------------------- serve
@cli.command("serve")
@click.option("--project", "-p", default=None, help="Project to open (default: the last one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=7860, show_default=True, help="Port (0 = any free).")
@click.option(
    "--auth-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Users file for password sign-in: NAME:PASSWORD lines (or TOMES_AUTH=NAME:PASSWORD); "
    "required to bind a non-loopback host.",
)
@click.option("--auth", default=None, hidden=True, help="Refused: see --auth-file.")
@click.option(
    "--certfile", type=click.Path(path_type=Path), default=None, help="TLS certificate (PEM)."
)
@click.option(
    "--keyfile", type=click.Path(path_type=Path), default=None, help="TLS private key (PEM)."
)
@click.option(
    "--allow-folder",
    "allow_folders",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="A folder the page may add by path (repeatable). By default: your home folder "
    "minus hidden folders; none when --host is not loopback.",
)
@click.option(
    "--no-browser", is_flag=True, help="Do not open a browser; print the address to open."
)
@_friendly
def serve_cmd(
    project: str | None,
    host: str,
    port: int,
    auth_file: Path | None,
    auth: str | None,
    certfile: Path | None,
    keyfile: Path | None,
    allow_folders: tuple[Path, ...],
    no_browser: bool,
) -> None:
    """Open the Tomes app in your browser (local only unless you say otherwise).

    Each start makes a new secret: the address printed (and opened) ends in ?token=…, and the
    app answers nobody without it. To let other machines in, bind their network (--host
    0.0.0.0), give named users passwords (TOMES_AUTH or --auth-file) and, ideally, TLS.
    """
    from app.security import serve_credentials
    from app.server import launch

    launch(
        project=project,
        host=host,
        port=port,
        credentials=serve_credentials(auth, auth_file),
        certfile=certfile,
        keyfile=keyfile,
        allow_folders=allow_folders,
        open_browser=not no_browser,
    )


@cli.command("hash-password")
@click.argument("name")
@_friendly
def hash_password_cmd(name: str) -> None:
    """Print a users-file line for NAME whose password is stored hashed (scrypt).

    The password is read from the terminal (twice), or from standard input when it is not a
    terminal; it must be at least 12 characters."""
    from app.security import MIN_PASSWORD_CHARS, hash_password

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD_CHARS:
        raise TomesError(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
    if ":" in name or not name.strip():
        raise TomesError("the user name must not be empty or contain ':'")
    click.echo(f"{name.strip()}:{hash_password(password)}")


def main() -> None:
    """Console-script entry point."""
    if os.name == "posix":
        # Everything Tomes writes (projects, exports, Gradio's upload cache) is the user's
        # alone; the engine also sets modes itself, this covers what libraries create.
        os.umask(0o077)
    cli(prog_name="tomes")


if __name__ == "__main__":
    main()
