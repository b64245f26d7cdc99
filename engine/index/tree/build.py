"""Building the summary tree: bottom-up, one node per transaction, resumable.

Every node keeps the chunk span it covers (so it can be cited back to pages or lines), its
child ids, token count and `made_by` (summarizer + model + settings hash). A node whose
`made_by` or children changed is rebuilt; a node that still matches is never redone, so
killing the process and building again continues where it stopped.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from engine.errors import Cancelled
from engine.index.tree.plan import plan_tree
from engine.index.tree.summarize import Summarizer
from engine.store import nodes as nodes_rows
from engine.store.db import ProjectStore
from engine.store.documents import document_names
from engine.store.nodes import NodeKey
from ingest.tokens import cl100k
from ingest.types import Locator

__all__ = ["TreeProgress", "TreeStatus", "build_tree", "tree_notice", "tree_status"]


@dataclass(frozen=True, slots=True)
class TreeProgress:
    done: int
    total: int
    level: int = 0
    built: int = 0  # nodes written in this run (the rest were already current)


@dataclass(frozen=True, slots=True)
class TreeStatus:
    done: int
    total: int
    levels: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total


def _hash(parts: Sequence[str]) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(p.encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def _label(loc: Locator) -> str:
    return loc.label() or "whole document"


def build_tree(
    store: ProjectStore,
    summarizer: Summarizer,
    *,
    fanout: int,
    cancel: threading.Event | None = None,
) -> Iterator[TreeProgress]:
    """Build or extend the tree. Yields progress after every node (already-current nodes count
    as done at once). Raises `Cancelled` if `cancel` is set; finished nodes stay."""
    plan = plan_tree(store, fanout=fanout)
    existing = nodes_rows.existing_nodes(store)
    names = document_names(store)
    total = len(plan)
    texts: dict[tuple[str, int, int], str] = {}
    ids: dict[tuple[str, int, int], int] = {}
    done = built = 0
    wanted = {n.key for n in plan}
    # Nodes no longer in the plan (a document's tree shrank, the corpus changed) go first.
    stale = [e.id for k, e in existing.items() if k not in wanted]
    if stale:
        nodes_rows.delete_nodes(store, stale)
    yield TreeProgress(0, total)
    for node in plan:
        if cancel is not None and cancel.is_set():
            raise Cancelled(
                f"tree build stopped at {done} of {total} nodes; run it again to continue"
            )
        if node.level == 1:
            child_ids = [str(c) for c in node.children]
            child_texts = nodes_rows.chunk_bodies(store, child_ids)
            children_hash = _hash(child_ids)
        else:
            child_ids = [str(ids[c]) for c in node.children]
            child_texts = [texts[c] for c in node.children]
            children_hash = _hash(child_texts)
        made_by = summarizer.made_by(node.level)
        current = existing.get(node.key)
        if current and current.made_by == made_by and current.children_hash == children_hash:
            texts[node.key] = current.text
            ids[node.key] = current.id
            done += 1
            yield TreeProgress(done, total, node.level, built)
            continue
        document = names.get(node.doc_id, "") if node.doc_id else ""
        if not node.doc_id:
            # corpus nodes: tell the model which document each summary is about
            child_texts = [
                f"[{names.get(c[0], 'documents') if c[0] else 'documents'}] {t}"
                for c, t in zip(node.children, child_texts, strict=True)
            ]
        text = summarizer.summarize(node.level, document, _label(node.locator), child_texts)
        text = text.strip() or "(no text)"
        row = nodes_rows.NodeRow(
            doc_id=node.doc_id,
            level=node.level,
            ordinal=node.ordinal,
            chunk_start=node.chunk_start,
            chunk_end=node.chunk_end,
            locator=node.locator,
            is_root=node.is_root,
            child_ids=child_ids,
            children_hash=children_hash,
            text=text,
            n_tokens=cl100k().count(text),
            made_by=made_by,
        )
        node_id = nodes_rows.write_node(
            store, row, replaces=current.id if current is not None else None
        )
        texts[node.key] = text
        ids[node.key] = node_id
        done += 1
        built += 1
        yield TreeProgress(done, total, node.level, built)


def tree_status(
    store: ProjectStore,
    *,
    fanout: int,
    made_by: Sequence[str] = (),
    plan: Sequence[NodeKey] | None = None,
) -> TreeStatus:
    """How much of the planned tree exists (nodes with a current `made_by`, when given).
    `plan` is the keys of `plan_tree(store, fanout=fanout)` when the caller has them (they
    change only with the chunks); no node text is read."""
    keys = plan if plan is not None else [n.key for n in plan_tree(store, fanout=fanout)]
    existing = nodes_rows.node_made_by(store)
    accepted = set(made_by)
    done = sum(1 for k in keys if k in existing and (not accepted or existing[k] in accepted))
    return TreeStatus(done, len(keys), nodes_rows.levels(store))


def tree_notice(status: TreeStatus) -> str | None:
    """What an answer should tell the user while the tree is incomplete."""
    if status.total and not status.complete:
        return (
            f"The summary tree is still being built ({status.done} of {status.total} "
            "parts); whole-document answers use the parts that exist so far."
        )
    return None
