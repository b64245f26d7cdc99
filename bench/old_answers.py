"""Ask questions through Tomes' PREVIOUS answer path (run by bench/answers.py, not by hand).

    PYTHONPATH=bench/.work/old-src python bench/old_answers.py JOB.json

Runs inside a subprocess whose `engine` is the source at bench/answers.py's OLD_REV (exported
with `git archive`), so it may only use what that tree has: `Workspace.ask(project, question)`
with no document scope, the one-shot prompt and the 2k-token chunk context. It imports nothing
from this tree's engine.

JOB.json: {"home": TOMES_HOME, "overrides": {...}, "out": records.jsonl,
           "projects": [{"name": ..., "files": [...], "questions": [{"id", "doc", "question"}]}]}
Each answer is appended to `out` as one JSON line as soon as it is done; ids already there are
skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder (bench/) leads sys.path, and bench/ingest.py would
# shadow the old tree's `ingest` package: drop it, so PYTHONPATH's old source is found.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _done(out: Path) -> set[str]:
    if not out.exists():
        return set()
    ids = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            continue  # a line cut by an interrupted run
    return ids


def chunk_texts(db_path: Path, chunk_ids: list[str]) -> dict[str, str]:
    """The stored text of each cited chunk (what the bench's claim check reads), read-only."""
    import sqlite3

    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            f"SELECT id, text FROM chunks WHERE id IN ({','.join('?' * len(chunk_ids))})",
            chunk_ids,
        ).fetchall()
    finally:
        con.close()
    return {str(i): str(t) for i, t in rows}


def _project(ws: Any, name: str, files: list[str]) -> Any:
    project = ws.project(name, create=True)
    if len(ws.documents(project)) < len(files):
        for _ in ws.ingest(project, [Path(f) for f in files], background_index=False):
            pass
        for _ in ws.index(project, tree=False):  # keywords + embeddings, as the indexer does
            pass
    return project


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    os.environ["TOMES_HOME"] = job["home"]
    import engine
    from engine.settings import Settings
    from engine.workspace import Workspace

    print(f"old path: engine from {Path(engine.__file__).parent}", flush=True)
    out = Path(job["out"])
    done = _done(out)
    ws = Workspace(Settings.load(overrides=job.get("overrides") or {}))
    try:
        with out.open("a", encoding="utf-8") as sink:
            for spec in job["projects"]:
                todo = [q for q in spec["questions"] if q["id"] not in done]
                if not todo:
                    continue
                project = _project(ws, spec["name"], spec["files"])
                ids = {d.name.rsplit("/", 1)[-1]: d.id for d in ws.documents(project)}
                for i, q in enumerate(todo, 1):
                    started = time.perf_counter()
                    stream = ws.ask(project, q["question"])
                    first = None
                    for _ in stream:
                        if first is None:
                            first = time.perf_counter() - started
                    answer = stream.result()
                    total = time.perf_counter() - started
                    texts = chunk_texts(project.db_path, [c.chunk_id for c in answer.citations])
                    record = {
                        "id": q["id"],
                        "answer": answer.text,
                        "supported": answer.supported,
                        "citations": [
                            {**c.to_json(), "doc_id": c.doc_id, "text": texts.get(c.chunk_id, "")}
                            for c in answer.citations
                        ],
                        "target_doc_id": ids.get(q["doc"], ""),
                        "ttft": first if first is not None else total,
                        "total": total,
                        "prompt_tokens": answer.usage.prompt_tokens,
                    }
                    sink.write(json.dumps(record) + "\n")
                    sink.flush()
                    print(
                        f"  old {i}/{len(todo)} {first or total:5.1f}s {answer.text[:90]!r}",
                        flush=True,
                    )
    finally:
        ws.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
