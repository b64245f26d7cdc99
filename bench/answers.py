"""Answer benchmark: are the answers right, cited to the right place, and fast? Side by side.

    .venv/bin/python -m bench.answers [--systems new,old,peer] [--parts cuad,leval,quality,code]
        [--contracts 20] [--categories value,yesno] [--yesno 33]
        [--leval 30] [--quality 30] [--code 20] [--max-answer-tokens 160]

Systems, same questions, same embedded model (Qwen2.5-Coder-0.5B Q4_K_M), same machine, one run:
- `new`: this tree's evidence-first answer path, through the Workspace as the CLI calls it; each
  question scoped to its document (`documents=[doc_id]`, as `tomes ask --document` does);
- `old`: Tomes' previous answer path, the source at OLD_REV exported with `git archive` to
  bench/.work/old-src and run in a subprocess (bench/old_answers.py): 2k-token chunk context,
  one-shot prompt. It cannot scope, so on CUAD it answers over the whole 20-contract project
  (the honest previous path; citations into other contracts are counted); on the other sets
  each document is its own project;
- `peer`: LlamaIndex's query engine (bench/peer_answers.py, in the peer venv of
  ../shared/bench/peers/README.md plus llama-index-llms-openai-like; PEER_PYTHON, default
  /tmp/peer-venv/bin/python) with the same GGUF served by llama_cpp.server on 127.0.0.1, one
  index per document (document scope for free) and its context cut to the same token budget
  (retrieval.budget). Missing venv: it says so and skips.
Tomes' projects are indexed as the background indexer does (keywords + embeddings; no summary
tree). Every system gets the same answer-length cap (--max-answer-tokens; the Tomes default is
512, capped here to fit the run in the time, stated in the output).

Parts (data from ../shared/bench or TOMES_BENCH_DIR; "data not found" when missing):
- `cuad`: the 20 contracts in one project; CUAD's category descriptions as questions (see
  bench/cuad_gold.py). Value categories scored against CUAD's normalized answers (over the
  contracts with the clause, and over all: where it is absent, "not found" is right); Yes/No
  categories as presence; citation precision = a cited span overlaps a CUAD gold span (the
  peer's scorer: a common substring covering >= 50% of either), per answer (any citation) and
  per citation (the share that do); cross-document citations;
- `leval`: L-Eval legal_contract_qa (CUAD-style instructions, reference clause texts), each
  question asked of its own contract; token F1 against the reference (L-Eval's metric for the
  task, SQuAD normalization) and ROUGE-L (rouge-score); citation hit = a cited span overlaps the
  reference (same scorer as CUAD);
- `quality`: QuALITY articles, four-option questions with the options in the question; accuracy
  of the option the answer picks (a letter, or the option's text);
- `code`: bench/data/codeqa.jsonl, questions about an installed package's source (pathspec)
  with file:line gold; correct = every key fact is in the answer; cited = a citation's
  file:line range holds the gold line. `code-NAME` is bench/data/codeqa-NAME.jsonl, scored the
  same way: `code-h11` is a held-out set, written after the code-answer changes were made on
  the pathspec set and not used to make them.
For every system: unsupported facts = the answer states a number, date, duration or name that
none of the passages it cites holds (the same claim check for all, engine/qa/facts.py; the new
path enforces this check itself, so its 0 there is by construction, and the self-reported
column shows what its verifier flagged); TTFT p50/p90 (an answer decided without the model
counts its total time) and TTFT per prompt token against the bare model's prompt-processing
rate measured in the same run, with the machine's load average.

Answers are kept per system and part in bench/.work/records/ (resumable: ids already answered
are skipped, `--fresh` starts over); tables are printed and bench/results/answers.json (or
--out) written.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))
WORK = Path(os.environ.get("TOMES_BENCH_WORK", ROOT / "bench" / ".work"))
OUT = ROOT / "bench" / "results" / "answers.json"
CODEQA = ROOT / "bench" / "data" / "codeqa.jsonl"
OLD_REV = "5692b27"  # main before evidence-first answering (issue 11)
PEER_PYTHON = Path(os.environ.get("PEER_PYTHON", "/tmp/peer-venv/bin/python"))
SERVER_PYTHON = Path(sys.executable)  # llama_cpp.server is in Tomes' test extras
SYSTEMS = ("new", "old", "peer")
PARTS = ("cuad", "leval", "quality", "code")  # and "code-NAME" (bench/data/codeqa-NAME.jsonl)


# ------------------------------------------------------------------------------ types
@dataclass
class Item:
    """One question of one part, asked of one document ("*": the whole corpus)."""

    part: str
    id: str
    doc: str
    question: str
    category: str = ""
    gold: dict[str, Any] = field(default_factory=dict)


@dataclass
class Corpus:
    """A part's documents (files, or one folder for a codebase) and its questions."""

    part: str
    files: list[Path]
    items: list[Item]
    note: str = ""


@dataclass
class Record:
    """One question asked of one system, and how it scored."""

    system: str
    part: str
    item: str
    document: str
    category: str
    question: str
    answer: str
    state: str
    citations: list[dict[str, Any]]
    ttft: float
    total: float
    prompt_tokens: int | None = None
    correct: bool | None = None
    score: float | None = None  # LEval token F1
    rouge_l: float | None = None
    cited_gold: bool | None = None  # any citation hits the gold
    cites_hit: int = 0  # citations that hit the gold
    cites_scored: int = 0  # citations scored against the gold
    self_unsupported: bool | None = None  # the system's own verifier flagged it (Tomes only)
    unsupported_facts: list[str] = field(default_factory=list)
    cross_doc: int = 0


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *cells, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), flush=True)


def _peer_scorer() -> tuple[Any, Any]:
    path = BENCH / "peers" / "llamaindex_cuad.py"
    spec = importlib.util.spec_from_file_location("llamaindex_cuad", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.norm_robust, module.min_cover_end


# ------------------------------------------------------------------------------ parts
def _gold_spans(bench: Path) -> dict[tuple[str, str], list[str]]:
    """CUAD's clause texts per (pdf name, category) from the master CSV (every category)."""
    import csv

    csv.field_size_limit(1 << 30)
    out: dict[tuple[str, str], list[str]] = {}
    pdfs = {
        re.sub(r"[^a-z0-9]", "", p.name.lower())[:40]: p.name
        for p in (bench / "cuad" / "pdf").glob("*.pdf")
    }
    with (bench / "cuad" / "full_annotations" / "master_clauses.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = pdfs.get(re.sub(r"[^a-z0-9]", "", row["Filename"].lower())[:40])
            if name is None:
                continue
            for key, value in row.items():
                if key.endswith("Answer") or key == "Filename":
                    continue
                try:
                    spans = ast.literal_eval(value) if value.strip().startswith("[") else []
                except (ValueError, SyntaxError):
                    spans = []
                out[(name, key.lower())] = [s for s in spans if isinstance(s, str)]
    return out


def cuad_corpus(args: argparse.Namespace) -> tuple[Corpus, list[Any]] | None:
    if not (BENCH / "cuad" / "pdf").is_dir():
        print(f"CUAD data not found in {BENCH / 'cuad'}: skipped.")
        return None
    from bench.cuad_gold import CATEGORIES, QUESTIONS, VALUE_CATEGORIES, load_contracts

    all_contracts = load_contracts(BENCH)
    contracts = all_contracts[args.offset : args.offset + args.contracts]
    wanted = set(args.categories.split(","))
    yesno = [c for c in CATEGORIES if c not in VALUE_CATEGORIES and c != "Warranty Duration"]
    cats = (list(VALUE_CATEGORIES) if "value" in wanted else []) + (
        yesno[: args.yesno] + (["Warranty Duration"] if args.yesno >= len(yesno) else [])
        if "yesno" in wanted
        else []
    )
    cats += [c for c in CATEGORIES if c in wanted and c not in cats]  # named ones
    items = [
        Item("cuad", f"{c.name}::{cat}", c.name, QUESTIONS[cat], cat)
        for c in contracts
        for cat in cats
    ]
    note = f"{len(contracts)} contracts x {len(cats)} categories ({', '.join(cats)})"
    # the project always holds all 20 contracts: the old path answers over all of them
    return Corpus("cuad", [c.pdf for c in all_contracts], items, note), contracts


def _spread(groups: Sequence[Sequence[Item]], limit: int) -> list[Item]:
    """Up to `limit` items taken round-robin over the documents (every document is asked)."""
    out: list[Item] = []
    for rank in range(max((len(g) for g in groups), default=0)):
        for g in groups:
            if rank < len(g) and len(out) < limit:
                out.append(g[rank])
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "doc"


def leval_corpus(args: argparse.Namespace) -> Corpus | None:
    path = BENCH / "leval" / "legal_contract_qa.jsonl"
    if not path.exists():
        print(f"LEval data not found ({path}): skipped.")
        return None
    folder = WORK / "data" / "leval"
    folder.mkdir(parents=True, exist_ok=True)
    files, groups = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        rec = json.loads(line)
        head = " ".join(rec["input"][:200].split()[1:6])
        f = folder / f"leval-{n:02d}-{_slug(head)}.txt"
        if not f.exists():
            f.write_text(rec["input"], encoding="utf-8")
        files.append(f)
        groups.append(
            [
                Item("leval", f"{n}:{k}", f.name, q, _leval_category(q), {"reference": a})
                for k, (q, a) in enumerate(zip(rec["instructions"], rec["outputs"], strict=True))
            ]
        )
    items = _spread(groups, args.leval)
    total = sum(len(g) for g in groups)
    return Corpus(
        "leval", files, items, f"{len(items)} of {total} questions, {len(files)} contracts"
    )


def _leval_category(question: str) -> str:
    m = re.search(r'related to "([^"]+)"', question)
    return m.group(1) if m else ""


LETTERS = "ABCD"


def quality_corpus(args: argparse.Namespace) -> Corpus | None:
    path = BENCH / "quality" / "quality_subset.jsonl"
    if not path.exists():
        print(f"QuALITY data not found ({path}): skipped.")
        return None
    folder = WORK / "data" / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    files, groups = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        f = folder / f"quality-{rec['article_id']}-{_slug(rec['title'])}.txt"
        if not f.exists():
            f.write_text(rec["article"], encoding="utf-8")
        files.append(f)
        questions = rec["questions"]
        if isinstance(questions, str):
            questions = ast.literal_eval(questions)
        group = []
        for k, q in enumerate(questions):
            options = " ".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(q["options"]))
            asked = (
                f"{q['question']} Options: {options} "
                "Answer with the letter of the correct option and say why."
            )
            gold = {"label": int(q["gold_label"]) - 1, "options": q["options"]}
            group.append(Item("quality", f"{rec['article_id']}:{k}", f.name, asked, "", gold))
        groups.append(group)
    items = _spread(groups, args.quality)
    total = sum(len(g) for g in groups)
    return Corpus(
        "quality", files, items, f"{len(items)} of {total} questions, {len(files)} articles"
    )


def code_corpus(args: argparse.Namespace, part: str = "code") -> Corpus | None:
    """Part "code": bench/data/codeqa.jsonl (pathspec); part "code-NAME": codeqa-NAME.jsonl
    (e.g. code-h11, a held-out set written after the code-answer changes)."""
    path = CODEQA if part == "code" else CODEQA.with_name(f"codeqa-{part[5:]}.jsonl")
    if not path.exists():
        print(f"code QA set not found ({path}): skipped.")
        return None
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    meta, questions = rows[0], rows[1:]
    import importlib.metadata as im

    package, version = meta["package"], meta["version"]
    try:
        installed = im.version(package)
    except im.PackageNotFoundError:
        print(f"code QA: {package} is not installed: skipped.")
        return None
    if installed != version:
        print(f"code QA: gold is for {package} {version}, {installed} is installed: skipped.")
        return None
    spec = importlib.util.find_spec(meta["module"])
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).parent
    # a copy outside the repo, so the documents' names are package-relative
    # ("pathspec/util.py") and the same for every system
    root = WORK / "data" / f"code-{package}-{version}"
    target = root / meta["module"]
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    items = [
        Item(part, str(q["id"]), "*", q["question"], q.get("kind", ""), q)
        for q in questions[: args.code]
    ]
    return Corpus(part, [target], items, f"{len(items)} questions over {package} {version}")


# ------------------------------------------------------------------------------ systems
def _done(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError):
                rec = json.loads(line)
                out[rec["id"]] = rec
    return out


def _files_of(corpus: Corpus) -> list[Path]:
    """The files as each system sees them: a codebase folder's files for the peer."""
    out = []
    for f in corpus.files:
        if f.is_dir():
            out += sorted(p for p in f.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        else:
            out.append(f)
    return out


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"model.max_answer_tokens": args.max_answer_tokens}


def _index(ws: Any, project: Any, files: Sequence[Path]) -> None:
    if not ws.documents(project):
        for _ in ws.ingest(project, list(files), background_index=False):
            pass
    for _ in ws.index(project, tree=False):  # keywords + embeddings, as the indexer does
        pass


def run_new(corpus: Corpus, args: argparse.Namespace, sink: Path) -> None:
    """This tree's answer path, through the Workspace as the CLI and UI call it."""
    os.environ["TOMES_HOME"] = str(WORK / "new-home")
    from bench.old_answers import chunk_texts
    from engine.settings import Settings
    from engine.workspace import Workspace

    done = _done(sink)
    todo = [i for i in corpus.items if i.id not in done]
    if not todo:
        return
    ws = Workspace(Settings.load(overrides=_overrides(args)))
    try:
        project = ws.project(f"bench-{corpus.part}", create=True)
        _index(ws, project, corpus.files)
        ids = {d.name.rsplit("/", 1)[-1]: d.id for d in ws.documents(project)}
        with sink.open("a", encoding="utf-8") as out:
            for n, item in enumerate(todo, 1):
                doc_id = ids.get(item.doc, "")
                started = time.perf_counter()
                stream = ws.ask(
                    project,
                    item.question,
                    documents=[doc_id] if doc_id else None,
                    overrides=_overrides(args),
                )
                first = None
                for _ in stream:
                    if first is None:
                        first = time.perf_counter() - started
                answer = stream.result()
                total = time.perf_counter() - started
                texts = chunk_texts(project.db_path, [c.chunk_id for c in answer.citations])
                rec = {
                    "id": item.id,
                    "answer": answer.text,
                    "state": answer.state.value,
                    "removed": list(answer.removed),
                    "citations": [
                        {**c.to_json(), "doc_id": c.doc_id, "text": texts.get(c.chunk_id, "")}
                        for c in answer.citations
                    ],
                    "target_doc_id": doc_id,
                    "ttft": first if first is not None else total,
                    "total": total,
                    "prompt_tokens": answer.usage.prompt_tokens,
                }
                out.write(json.dumps(rec) + "\n")
                out.flush()
                print(
                    f"  new {corpus.part} {n}/{len(todo)} {item.category[:22]:22s} "
                    f"{answer.state.value:9s} {rec['ttft']:5.1f}s {answer.text[:80]!r}",
                    flush=True,
                )
    finally:
        ws.close()


def _old_source() -> Path:
    """The previous answer path's source tree, exported once from git."""
    target = WORK / "old-src"
    stamp = target / ".rev"
    if stamp.exists() and stamp.read_text().strip() == OLD_REV:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD_REV], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    stamp.write_text(OLD_REV)
    return target


def _share_models(home: Path) -> None:
    """Point a Tomes home's models folder at the new path's (one copy of the 0.5B GGUF)."""
    models = WORK / "new-home" / "models"
    home.mkdir(parents=True, exist_ok=True)
    if models.is_dir() and not (home / "models").exists():
        (home / "models").symlink_to(models, target_is_directory=True)


def run_old(corpus: Corpus, args: argparse.Namespace, sink: Path) -> None:
    """The previous answer path, in a subprocess on the source at OLD_REV."""
    done = _done(sink)
    todo = [i for i in corpus.items if i.id not in done]
    if not todo:
        return
    src = _old_source()
    home = WORK / "old-home"
    _share_models(home)
    projects: list[dict[str, Any]]
    if corpus.part == "cuad" or corpus.files[0].is_dir():
        # one project for the set: the old path cannot scope a question to one document
        projects = [{"name": f"bench-{corpus.part}", "files": [str(f) for f in corpus.files]}]
        projects[0]["questions"] = [asdict(i) for i in todo]
    else:  # each document its own project (the brief's "each document in its own project")
        projects = [
            {
                "name": f"bench-{corpus.part}-{f.stem}"[:60],
                "files": [str(f)],
                "questions": [asdict(i) for i in todo if i.doc == f.name],
            }
            for f in corpus.files
        ]
        projects = [p for p in projects if p["questions"]]
    job = WORK / f"old-{corpus.part}.json"
    job.write_text(
        json.dumps(
            {
                "home": str(home),
                "overrides": _overrides(args),
                "out": str(sink),
                "projects": projects,
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("TOMES_HOME", None)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "old_answers.py"), str(job)],
        cwd=src,
        env=env,
        check=True,
    )


@contextlib.contextmanager
def model_server(args: argparse.Namespace) -> Iterator[str]:
    """llama_cpp.server on 127.0.0.1 with the embedded GGUF and Tomes' model settings."""
    os.environ["TOMES_HOME"] = str(WORK / "new-home")
    from engine.llm.backends import resolve_model_path
    from engine.llm.backends.llama import physical_cores
    from engine.settings import Settings

    settings = Settings.load()
    model = resolve_model_path(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        str(SERVER_PYTHON), "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(settings.model.n_ctx), "--n_batch", "512",
        "--n_threads", str(settings.model.threads or physical_cores()),
        "--seed", str(settings.model.seed),
    ]  # fmt: skip
    log = (WORK / "llama-server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not start (see {log.name})") from None
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def run_peer(corpus: Corpus, args: argparse.Namespace, sink: Path, server: str) -> None:
    done = _done(sink)
    todo = [i for i in corpus.items if i.id not in done]
    if not todo:
        return
    from engine.settings import Settings

    settings = Settings.load()
    job = WORK / f"peer-{corpus.part}.json"
    job.write_text(
        json.dumps(
            {
                "server": server,
                "budget": settings.retrieval.budget,
                "n_ctx": settings.model.n_ctx,
                "max_tokens": args.max_answer_tokens,
                "temperature": settings.model.temperature,
                "seed": settings.model.seed,
                "out": str(sink),
                "projects": [
                    {
                        "name": corpus.part,
                        "files": [
                            str(f)
                            for f in _files_of(corpus)
                            if any(i.doc in ("*", f.name) for i in todo)
                        ],
                        "questions": [asdict(i) for i in todo],
                    }
                ],
            }
        )
    )
    subprocess.run(
        [str(PEER_PYTHON), str(ROOT / "bench" / "peer_answers.py"), str(job)], check=True
    )


# ------------------------------------------------------------------------------ scoring
def _record(system: str, item: Item, raw: dict[str, Any]) -> Record:
    """A system's raw answer as a Record: one reading for all three."""
    from bench.cuad_gold import says_absent

    text = raw["answer"] or ""
    if system == "new":
        state = raw["state"]
        self_flag: bool | None = bool(raw.get("removed")) or any(
            not c.get("verified", True) for c in raw["citations"]
        )
    elif system == "old":
        state = "unclear" if not raw["supported"] else "found"
        self_flag = not raw["supported"] or any(
            not c.get("verified", True) for c in raw["citations"]
        )
    else:  # the peer has no verifier: what it says is what it shows
        state = "found"
        self_flag = None
    if state == "found" and says_absent(text):
        state = "not_found"
    target = raw.get("target_doc_id") or ""
    if system == "peer":
        cross = sum(1 for c in raw["citations"] if item.doc != "*" and c["document"] != item.doc)
    else:
        cross = sum(1 for c in raw["citations"] if target and c.get("doc_id") != target)
    return Record(
        system=system,
        part=item.part,
        item=item.id,
        document=item.doc,
        category=item.category,
        question=item.question,
        answer=text,
        state=state,
        citations=raw["citations"],
        ttft=float(raw["ttft"]),
        total=float(raw["total"]),
        prompt_tokens=raw.get("prompt_tokens"),
        self_unsupported=self_flag,
        cross_doc=cross,
    )


_KEY = re.compile(r"\[[a-z]?\d+(?:\s*,\s*[a-z]?\d+)*\]", re.I)


def unsupported_facts(r: Record) -> list[str]:
    """The answer's facts (numbers, dates, durations, names) that no cited passage holds."""
    from bench.cuad_gold import says_absent
    from engine.qa.facts import check_claim

    if r.state != "found" or says_absent(r.answer):
        return []
    claim = _KEY.sub(" ", r.answer)
    evidence = "\n".join(f"{c.get('quote', '')}\n{c.get('text', '')}" for c in r.citations)
    # the question marks its common words (a capitalized "Adding" it writes "adding" is no
    # name); every name and number must still be in what the answer cites
    return [f.text for f in check_claim(claim, evidence, given=r.question).missing]


def _hits(r: Record, golds: Sequence[str]) -> None:
    """Score each citation's span against the gold spans with the peer's scorer."""
    norm, cover = _peer_scorer()
    gs = [norm(g) for g in golds if g.strip()]
    if not gs or r.state != "found" or not r.citations:
        return
    hits = 0
    for c in r.citations:
        q = norm(c.get("quote") or c.get("text") or "")
        hits += bool(q) and any(cover(g, q) is not None or cover(q, g) is not None for g in gs)
    r.cites_hit, r.cites_scored = hits, len(r.citations)
    r.cited_gold = hits > 0


def score_cuad(records: Sequence[Record], contracts: Sequence[Any]) -> None:
    from bench.cuad_gold import VALUE_CATEGORIES, score_value

    spans = _gold_spans(BENCH)
    by_name = {c.name: c for c in contracts}
    for r in records:
        contract = by_name[r.document]
        gold = contract.gold[r.category]
        found = r.state == "found"
        if r.category in VALUE_CATEGORIES:
            r.correct = (
                None if gold.unscored else score_value(r.category, r.answer, gold, contract.gold)
            )
        else:
            r.correct = found == gold.present
        _hits(r, spans.get((r.document, r.category.lower()), []))


def _squad_tokens(text: str) -> list[str]:
    """L-Eval's F1 normalization (SQuAD's): lowercase, no punctuation or articles."""
    import string

    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, reference: str) -> float:
    from collections import Counter

    p, g = _squad_tokens(prediction), _squad_tokens(reference)
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if not p or not g or same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def score_leval(records: Sequence[Record], items: dict[str, Item]) -> None:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for r in records:
        ref = items[r.item].gold["reference"]
        text = _KEY.sub(" ", r.answer)
        r.score = token_f1(text, ref)
        r.rouge_l = scorer.score(ref, text)["rougeL"].fmeasure
        _hits(r, [ref])


def pick_option(answer: str, options: Sequence[str]) -> int | None:
    """Which option an answer picks: a leading/bracketed letter, else the option whose words
    it repeats most (None when it picks none)."""
    for pattern in (
        r"\(([ABCD])\)",  # "(B)"
        r"\b(?:option|answer)\s*(?:is\s*)?:?\s*\(?([ABCD])\b",  # "the answer is C"
        r"^\W*([ABCD])(?:[).:,]|\s*$)",  # "B." / "B) ..." / "B"
    ):
        m = re.search(pattern, answer.strip(), re.I if "option" in pattern else 0)
        if m:
            return LETTERS.index(m.group(1).upper())
    words = set(_squad_tokens(answer))
    overlap = [
        len(words & set(_squad_tokens(o))) / max(1, len(set(_squad_tokens(o)))) for o in options
    ]
    best = max(range(len(options)), key=lambda i: overlap[i])
    return best if overlap[best] >= 0.5 else None


def score_quality(records: Sequence[Record], items: dict[str, Item]) -> None:
    for r in records:
        gold = items[r.item].gold
        r.correct = pick_option(r.answer, gold["options"]) == gold["label"]


def _code_path(c: dict[str, Any]) -> str:
    return str(c.get("path") or c.get("document") or "").replace("\\", "/")


def score_code(records: Sequence[Record], items: dict[str, Item]) -> None:
    from bench.cuad_gold import _norm

    for r in records:
        gold = items[r.item].gold
        text = _norm(r.answer)
        r.correct = r.state == "found" and all(
            any(_norm(alt) in text for alt in fact.split("|")) for fact in gold["facts"]
        )
        hits = 0
        for c in r.citations:
            start, end = c.get("line_start"), c.get("line_end")
            hits += (
                _code_path(c).endswith(gold["file"])
                and start is not None
                and end is not None
                and start <= gold["line"] <= end
            )
        r.cites_hit, r.cites_scored = hits, len(r.citations)
        r.cited_gold = hits > 0 if r.citations else False


# ------------------------------------------------------------------------------ report
def _pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:.1f}% ({hits}/{n})" if n else "-"


def _q(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p * len(s)))], 2) if s else 0.0


def _common(records: Sequence[Record], pp_rate: float | None) -> dict[str, Any]:
    found = [r for r in records if r.state == "found"]
    ttfts = [r.ttft for r in records]
    per_token = [
        r.ttft / r.prompt_tokens * pp_rate
        for r in records
        if pp_rate and r.prompt_tokens and r.ttft > 0
    ]
    flagged = [r for r in records if r.self_unsupported is not None]
    return {
        "n": len(records),
        "unsupported_facts": [sum(bool(r.unsupported_facts) for r in found), len(found)],
        "self_reported_unsupported": (
            [sum(bool(r.self_unsupported) for r in flagged), len(flagged)] if flagged else None
        ),
        "cross_document_citations": sum(r.cross_doc for r in records),
        "citations_per_answer": (
            round(statistics.mean(len(r.citations) for r in found), 2) if found else 0.0
        ),
        "ttft_p50": _q(ttfts, 0.5),
        "ttft_p90": _q(ttfts, 0.9),
        "prompt_tokens_p50": _q([float(r.prompt_tokens) for r in records if r.prompt_tokens], 0.5),
        # TTFT over the bare model's time to read the same number of prompt tokens (1.0: the
        # answer path adds nothing to reading its prompt)
        "ttft_over_bare_pp_p50": round(statistics.median(per_token), 2) if per_token else None,
    }


def summarize(
    part: str, records: Sequence[Record], extra: Any, pp_rate: float | None
) -> dict[str, Any]:
    out = _common(records, pp_rate)
    cited = [r for r in records if r.cited_gold is not None]
    out["citation_precision"] = [sum(bool(r.cited_gold) for r in cited), len(cited)]
    out["citation_precision_per_citation"] = [
        sum(r.cites_hit for r in cited),
        sum(r.cites_scored for r in cited),
    ]
    if part == "cuad":
        from bench.cuad_gold import VALUE_CATEGORIES

        by_name = {c.name: c for c in extra}
        value = [r for r in records if r.category in VALUE_CATEGORIES and r.correct is not None]
        pos = [r for r in value if by_name[r.document].gold[r.category].present]
        yesno = [r for r in records if r.category not in VALUE_CATEGORIES]
        per_category: dict[str, list[int]] = {}
        for r in records:
            if r.correct is not None:
                c = per_category.setdefault(r.category, [0, 0])
                c[0] += int(r.correct)
                c[1] += 1
        out |= {
            "value_accuracy_present": [sum(bool(r.correct) for r in pos), len(pos)],
            "value_accuracy_all": [sum(bool(r.correct) for r in value), len(value)],
            "yesno_accuracy": [sum(bool(r.correct) for r in yesno), len(yesno)],
            "per_category": per_category,
        }
    elif part == "leval":
        out["token_f1"] = round(statistics.mean(r.score or 0.0 for r in records), 4)
        out["rouge_l"] = round(statistics.mean(r.rouge_l or 0.0 for r in records), 4)
    else:
        out["accuracy"] = [sum(bool(r.correct) for r in records), len(records)]
    return out


_ROWS: dict[str, list[tuple[str, str]]] = {
    "cuad": [
        ("value accuracy (clause present)", "value_accuracy_present"),
        ("value accuracy (all contracts)", "value_accuracy_all"),
        ("Yes/No presence accuracy", "yesno_accuracy"),
    ],
    "leval": [("token F1 (L-Eval)", "token_f1"), ("ROUGE-L F", "rouge_l")],
    "quality": [("4-option accuracy", "accuracy")],
    "code": [("answer correct (key facts)", "accuracy")],
}


def _cell(value: Any) -> str:
    """[hits, n] as a percentage; a 0-1 score as points; None as "-"."""
    if isinstance(value, list) and len(value) == 2:
        return _pct(*value)
    if isinstance(value, float) and 0.0 <= value <= 1.0:
        return f"{100 * value:.1f}"
    return "-" if value is None else str(value)


def report(part: str, note: str, summaries: dict[str, dict[str, Any]]) -> None:
    systems = list(summaries)
    cite = "citation holds the gold line" if part.startswith("code") else "citation precision"

    def row(label: str, key: str) -> list[object]:
        return [label, *(_cell(summaries[s][key]) for s in systems)]

    def plain(label: str, key: str) -> list[object]:
        return [
            label,
            *(str(summaries[s][key] if summaries[s][key] is not None else "-") for s in systems),
        ]

    rows = [row(label, key) for label, key in _ROWS["code" if part.startswith("code") else part]]
    ttft = [f"{summaries[s]['ttft_p50']} / {summaries[s]['ttft_p90']}" for s in systems]
    rows += [
        row(f"{cite} (answer)", "citation_precision"),
        row(f"{cite} (each citation)", "citation_precision_per_citation"),
        row("unsupported facts (bench check)", "unsupported_facts"),
        row("self-reported unsupported", "self_reported_unsupported"),
        row("cross-document citations", "cross_document_citations"),
        plain("citations per found answer", "citations_per_answer"),
        ["TTFT p50 / p90 (s)", *ttft],
        plain("prompt tokens p50", "prompt_tokens_p50"),
        plain("TTFT / bare prompt read p50", "ttft_over_bare_pp_p50"),
    ]
    print(f"\n{part.upper()}: {note}")
    _table([part, *systems], rows)
    if part == "cuad":
        cats = list(dict.fromkeys(c for s in systems for c in summaries[s]["per_category"]))
        print()
        _table(
            ["category", *systems],
            [[c, *(_cell(summaries[s]["per_category"].get(c)) for s in systems)] for c in cats],
        )


def bare_pp_rate() -> float:
    """The bare model's prompt-processing rate (tokens/s) right now, from cold, in-process."""
    os.environ["TOMES_HOME"] = str(WORK / "new-home")
    from engine.llm.backends import ChatMessage, GenerationParams
    from engine.settings import Settings
    from engine.workspace import Workspace

    ws = Workspace(Settings.load())
    try:
        with ws.models.use(ws.settings) as backend:
            text = " ".join(
                f"Clause {i}: the supplier delivers goods number {i * 7} on time."
                for i in range(100)
            )
            rates = []
            for rep in range(2):
                msgs = [ChatMessage("user", f"{rep} {text}\nSummarize.")]
                n = len(backend.prompt_tokens(msgs))  # type: ignore[attr-defined]
                t0 = time.perf_counter()
                stream = backend.stream(msgs, GenerationParams(max_tokens=1, temperature=0.0))
                next(iter(stream), None)
                rates.append(n / (time.perf_counter() - t0))
                stream.close()
        return max(rates)
    finally:
        ws.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--systems", default="new,old,peer")
    parser.add_argument("--parts", default="cuad,leval,quality,code")
    parser.add_argument("--contracts", type=int, default=20, help="how many of the 20")
    parser.add_argument("--offset", type=int, default=0, help="first contract")
    parser.add_argument("--categories", default="value,yesno")
    parser.add_argument("--yesno", type=int, default=33, help="how many Yes/No categories")
    parser.add_argument("--leval", type=int, default=154, help="LEval questions (spread)")
    parser.add_argument("--quality", type=int, default=207, help="QuALITY questions (spread)")
    parser.add_argument("--code", type=int, default=100, help="code QA questions")
    parser.add_argument("--max-answer-tokens", type=int, default=160)
    parser.add_argument("--score-only", action="store_true", help="score what is recorded")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="answer again what this run asks (its systems and parts)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"results file (default {OUT})")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            parser.error(f"unknown system {s!r} (known: {', '.join(SYSTEMS)})")
    if "peer" in systems and not PEER_PYTHON.exists():
        print(f"peer venv not found ({PEER_PYTHON}, see bench/peer_answers.py): peer skipped.")
        systems.remove("peer")
    records_dir = WORK / "records"
    records_dir.mkdir(parents=True, exist_ok=True)

    corpora: list[tuple[Corpus, Any]] = []
    for part in args.parts.split(","):
        if part == "cuad":
            found = cuad_corpus(args)
            if found:
                corpora.append(found)
        else:
            if part.startswith("code"):
                corpus = code_corpus(args, part)
            elif part in ("leval", "quality"):
                corpus = (leval_corpus if part == "leval" else quality_corpus)(args)
            else:
                parser.error(f"unknown part {part!r} (known: {', '.join(PARTS)}, code-NAME)")
            if corpus:
                corpora.append((corpus, None))
    if not corpora:
        print("data not found: nothing to measure.")
        return 0

    if args.fresh and not args.score_only:
        # only what this run answers again: the other systems' and parts' records stay
        for system in systems:
            for corpus, _ in corpora:
                (records_dir / f"{corpus.part}-{system}.jsonl").unlink(missing_ok=True)
    log = WORK / "runs.jsonl"  # every run's machine figures, kept across resumed runs
    if not args.score_only:
        load0 = os.getloadavg()
        rate = bare_pp_rate()
        print(f"bare model prompt processing: {rate:.0f} tokens/s (load {load0[0]:.1f})")
        for system in systems:
            started, load = time.perf_counter(), os.getloadavg()
            if system == "peer":
                with model_server(args) as server:
                    for corpus, _ in corpora:
                        run_peer(corpus, args, records_dir / f"{corpus.part}-peer.jsonl", server)
            else:
                for corpus, _ in corpora:
                    sink = records_dir / f"{corpus.part}-{system}.jsonl"
                    (run_new if system == "new" else run_old)(corpus, args, sink)
            run = {
                "system": system,
                "parts": [c.part for c, _ in corpora],
                "argv": sys.argv[1:] if argv is None else list(argv),
                "seconds": round(time.perf_counter() - started),
                "bare_pp_tokens_per_s": round(rate, 1),
                "load_at_start": [round(x, 2) for x in load],
                "load_at_end": [round(x, 2) for x in os.getloadavg()],
                "at": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            with log.open("a", encoding="utf-8") as f:
                f.write(json.dumps(run) + "\n")
            print(f"{system}: {run}", flush=True)
    runs = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    rates = [r["bare_pp_tokens_per_s"] for r in runs if r.get("bare_pp_tokens_per_s")]
    pp_rate = statistics.median(rates) if rates else None

    results: dict[str, Any] = {}
    for corpus, extra in corpora:
        items = {i.id: i for i in corpus.items}
        summaries: dict[str, dict[str, Any]] = {}
        per_system: dict[str, list[Record]] = {}
        for system in SYSTEMS:
            raw = _done(records_dir / f"{corpus.part}-{system}.jsonl")
            recs = [_record(system, items[k], v) for k, v in raw.items() if k in items]
            if not recs:
                continue
            if len(recs) < len(items):
                print(f"{corpus.part}/{system}: {len(recs)} of {len(items)} questions answered")
            for r in recs:
                r.unsupported_facts = unsupported_facts(r)
            if corpus.part == "cuad":
                score_cuad(recs, extra)
            elif corpus.part == "leval":
                score_leval(recs, items)
            elif corpus.part == "quality":
                score_quality(recs, items)
            else:
                score_code(recs, items)
            per_system[system] = recs
            summaries[system] = summarize(corpus.part, recs, extra, pp_rate)
        if not summaries:
            continue
        # side by side on the questions every system answered
        common = set.intersection(*({r.item for r in rs} for rs in per_system.values()))
        if len(per_system) > 1 and any(len(rs) > len(common) for rs in per_system.values()):
            shared = {
                s: summarize(corpus.part, [r for r in rs if r.item in common], extra, pp_rate)
                for s, rs in per_system.items()
            }
            report(
                corpus.part,
                f"{corpus.note}; the {len(common)} questions all systems answered",
                shared,
            )
            results[f"{corpus.part}_shared"] = {"questions": len(common), "summaries": shared}
        report(corpus.part, f"{corpus.note}; every answered question", summaries)
        results[corpus.part] = {
            "note": corpus.note,
            "summaries": summaries,
            "records": {s: [asdict(r) for r in rs] for s, rs in per_system.items()},
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "bare_pp_tokens_per_s_median": pp_rate,
                "runs": runs,
                "max_answer_tokens": args.max_answer_tokens,
                "old_rev": OLD_REV,
                "parts": results,
            },
            indent=1,
            default=str,
        )
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
