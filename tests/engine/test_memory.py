"""The summary tree: invariants, resume after interruption, made_by rebuilds, reading."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from engine.errors import Cancelled
from engine.index.tree.build import build_tree, tree_status
from engine.index.tree.plan import plan_tree
from engine.index.tree.read import TreeReader
from engine.index.tree.summarize import ExtractiveSummarizer, ModelSummarizer, clip_loop
from engine.llm.models import ModelManager
from engine.settings import Settings
from tests.support.answers import scope_over
from tests.support.corpus import add_pdf_like, open_store, pages_about

FANOUT = 3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        env={"TOMES_HOME": str(tmp_path)},
        overrides={"model.backend": "fake", "memory.fanout": FANOUT, "memory.summary_tokens": 60},
    )


def summarizer(settings: Settings, models: ModelManager | None = None) -> ModelSummarizer:
    return ModelSummarizer(settings, models or ModelManager(), "fake:quote-best-match")


def test_tree_invariants(tmp_path: Path, settings: Settings) -> None:
    with open_store(tmp_path) as store:
        ids = [add_pdf_like(store, f"doc{i}.pdf", pages_about(i, 4 + 3 * i)) for i in range(3)]
        list(build_tree(store, summarizer(settings), fanout=FANOUT))
        reader = TreeReader(store)
        for doc_id in ids:
            chunks = [c.id for c in store.doc_chunks(doc_id)]
            nodes = reader.nodes(doc_id=doc_id)
            levels = sorted({n.level for n in nodes})
            for level in levels:
                # every chunk covered exactly once per level
                covered = Counter(
                    o
                    for n in nodes
                    if n.level == level
                    for o in range(n.chunk_start, n.chunk_end + 1)
                )
                assert sorted(covered) == list(range(len(chunks))) and set(covered.values()) == {1}
            level1 = [n for n in nodes if n.level == 1]
            assert [c for n in level1 for c in n.child_ids] == chunks
            (root,) = [n for n in nodes if n.is_root]
            assert (root.chunk_start, root.chunk_end) == (0, len(chunks) - 1)
            assert root.level == max(levels)
            # spans map back to locators: the root covers page 1 to the last page
            doc = store.document(doc_id)
            assert root.locator.page == 1 and (root.locator.page_end or 1) == doc.n_pages
        corpus = reader.corpus_root()
        assert corpus is not None and corpus.doc_id == "" and corpus.is_root
        assert "doc0.pdf" in corpus.text or corpus.text  # children are labelled by document
        status = tree_status(store, fanout=FANOUT)
        assert status.complete


def test_resume_after_interruption_redoes_nothing(tmp_path: Path, settings: Settings) -> None:
    with open_store(tmp_path) as store:
        add_pdf_like(store, "a.pdf", pages_about(1, 9))
        add_pdf_like(store, "b.pdf", pages_about(2, 5))
        total = len(plan_tree(store, fanout=FANOUT))
        s1 = summarizer(settings)
        # simulate a kill: stop consuming the generator half-way
        gen = build_tree(store, s1, fanout=FANOUT)
        first = list(itertools.islice(gen, 1 + total // 2))
        gen.close()
        built_before = first[-1].built
        assert 0 < built_before < total
        s2 = summarizer(settings)
        progress = list(build_tree(store, s2, fanout=FANOUT))
        assert progress[-1].done == total
        assert progress[-1].built == total - built_before  # nothing finished was redone
        again = list(build_tree(store, summarizer(settings), fanout=FANOUT))
        assert again[-1].built == 0


def test_cancel_raises_and_keeps_finished_nodes(tmp_path: Path, settings: Settings) -> None:
    import threading

    with open_store(tmp_path) as store:
        add_pdf_like(store, "a.pdf", pages_about(1, 9))
        cancel = threading.Event()
        done = 0
        with pytest.raises(Cancelled, match="run it again"):
            for p in build_tree(store, summarizer(settings), fanout=FANOUT, cancel=cancel):
                done = p.done
                if p.done == 2:
                    cancel.set()
        assert done == 2
        assert tree_status(store, fanout=FANOUT).done == 2


def test_made_by_mismatch_rebuilds(tmp_path: Path, settings: Settings) -> None:
    with open_store(tmp_path) as store:
        add_pdf_like(store, "a.pdf", pages_about(1, 6))
        list(build_tree(store, summarizer(settings), fanout=FANOUT))
        other = ModelSummarizer(settings, ModelManager(), "llama.cpp:other.gguf:1")
        progress = list(build_tree(store, other, fanout=FANOUT))
        level1 = len([n for n in plan_tree(store, fanout=FANOUT) if n.level == 1])
        # extractive level 1 does not depend on the model; every model-written node is rebuilt
        assert progress[-1].built == progress[-1].total - level1


def test_replacing_a_document_rebuilds_only_what_changed(
    tmp_path: Path, settings: Settings
) -> None:
    with open_store(tmp_path) as store:
        add_pdf_like(store, "a.pdf", pages_about(1, 6))
        b = add_pdf_like(store, "b.pdf", pages_about(2, 6))
        list(build_tree(store, summarizer(settings), fanout=FANOUT))
        store.remove_document(b)
        add_pdf_like(store, "b.pdf", pages_about(3, 6))
        progress = list(build_tree(store, summarizer(settings), fanout=FANOUT))
        a_nodes = len(TreeReader(store).nodes(doc_id=store.documents()[0].id))
        assert progress[-1].built == progress[-1].total - a_nodes


def test_extractive_summary_is_verbatim_central_sentences(settings: Settings) -> None:
    ex = ExtractiveSummarizer(settings)
    texts = [
        "The term of the lease is five years. The rent is paid monthly. The term can be renewed.",
        "Renewal of the term requires notice. The tenant may keep a cat. The term ends in 2030.",
    ]
    summary = ex.summarize(1, "lease.pdf", "p. 1", texts)
    for sentence in summary.split(". "):
        assert sentence.strip(". ") in " ".join(texts)
    assert "term" in summary.lower()


def test_extractive_summary_skips_fragments_and_words_every_sentence_shares(
    settings: Settings,
) -> None:
    # A transcript: every turn names the chair, and procedural fragments are frequent. The
    # summary should be the turns with content, not the chatter that links them all.
    turns = [
        "The Chair: We will now go to Mr. Smith.",
        "The Chair: Thank you, we go on.",
        "The Chair: The committee approved the budget of 40 million dollars for rural clinics.",
        "The Chair: We now go to Ms. Lee.",
        "The Chair: The rural clinics budget covers nurses, vaccines and mobile clinics.",
        "The Chair: OK, now we go to Mr. Tan.",
        "The Chair: Nurses in rural clinics will be hired from the budget next spring.",
    ]
    ex = ExtractiveSummarizer(settings.with_overrides({"memory.summary_tokens": 40}))
    summary = ex.summarize(1, "meeting.txt", "L1-7", ["\n".join(turns)])
    assert "budget" in summary and "clinics" in summary
    assert "go to" not in summary and "we go on" not in summary


def test_clip_loop_cuts_a_decoding_loop_and_leaves_prose_alone() -> None:
    looped = "The parties agree on the price, " + "the one you sent " * 4 + "the one"
    assert clip_loop(looped) == "The parties agree on the price, the one you sent"
    prose = "The fee is 100 euros. The fee is due in May. The term is two years. Notice: 30 days."
    assert clip_loop(prose) is None
    assert clip_loop("Yes. Yes. Yes. Yes. Yes.") is None  # too short to be a loop of a summary


def test_a_looping_model_summary_is_cut_short(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.llm.backends import BACKENDS
    from engine.llm.backends.fake import FakeBackend

    loop = "The supplier ships monthly. " + "and the buyer pays and the buyer pays " * 30
    monkeypatch.setitem(BACKENDS, "fake", lambda s: FakeBackend(script=loop))
    abstractive = settings.with_overrides({"memory.mode": "abstractive"})
    ms = ModelSummarizer(abstractive, ModelManager(), "fake:quote-best-match")
    text = ms.summarize(1, "a.pdf", "p. 1", ["The supplier ships monthly and the buyer pays."])
    assert text == "The supplier ships monthly. and the buyer pays"
    assert ms.model_tokens_written < 60  # generation stopped once the loop showed


def test_a_question_does_not_wait_behind_a_summary(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree builder abandons a node mid-generation when a question is waiting, lets the
    question have the model, and redoes the node afterwards."""
    import threading
    import time

    from engine.llm.backends import BACKENDS
    from engine.llm.backends.fake import FakeBackend
    from engine.qa.answer import ask
    from engine.qa.retrieve import HybridRetriever, Modes

    monkeypatch.setitem(BACKENDS, "fake", lambda s: FakeBackend(delay_s=0.05))
    abstractive = settings.with_overrides({"memory.mode": "abstractive"})
    models = ModelManager()
    with open_store(tmp_path) as store:
        add_pdf_like(store, "a.pdf", pages_about(1, 9))
    done = threading.Event()

    def build() -> None:
        with open_store(tmp_path) as own:
            summarizer = ModelSummarizer(abstractive, models, "fake:quote-best-match")
            list(build_tree(own, summarizer, fanout=FANOUT))
        done.set()

    builder = threading.Thread(target=build)
    builder.start()
    time.sleep(0.5)  # a node (about 2 s of fake generation) is being written now
    with open_store(tmp_path) as store:
        t0 = time.perf_counter()
        stream = ask(
            "When is payment due?",
            scope=scope_over(HybridRetriever(store, modes=Modes(dense=False, tree=False)), store),
            models=models,
            settings=abstractive,
        )
        next(iter(stream))
        waited = time.perf_counter() - t0
        stream.close()
    assert waited < 1.0, f"the question waited {waited:.2f}s behind a summary"
    builder.join(60)
    assert done.is_set()
    with open_store(tmp_path) as store:
        assert tree_status(store, fanout=FANOUT).complete


def test_answers_say_while_the_tree_is_incomplete_and_follow_new_documents(
    tmp_path: Path,
) -> None:
    """Every question tells the user how far the tree is (from a plan kept per set of
    chunks, not re-planned per question), and a new document makes the tree incomplete."""
    from engine.workspace import Workspace
    from tests.support.fixtures import make_pdf

    overrides = {"model.backend": "fake", "retrieval.embeddings": False, "memory.fanout": 3}
    ws = Workspace(Settings.load(env={"TOMES_HOME": str(tmp_path)}, overrides=overrides))
    try:
        project = ws.project("Tree", create=True)
        first = make_pdf(tmp_path / "a.pdf", pages_about(1, 12))
        list(ws.ingest(project, [first], background_index=False))
        steps = ws.index(project)
        for step in steps:
            if step.phase == "tree" and step.done >= 2:
                break  # stop the build part of the way
        steps.close()
        notices = ws.ask(project, "What is the rent?").result().notices
        (notice,) = notices
        assert "summary tree is still being built" in notice
        total = ws.index_status(project).tree.total
        assert f"of {total} parts" in notice

        list(ws.index(project))
        assert ws.ask(project, "What is the rent?").result().notices == ()

        second = make_pdf(tmp_path / "b.pdf", pages_about(2, 9))
        list(ws.ingest(project, [second], background_index=False))
        (notice,) = ws.ask(project, "What is the rent?").result().notices
        assert ws.index_status(project).tree.total > total  # the plan followed the new chunks
        assert f"of {ws.index_status(project).tree.total} parts" in notice
    finally:
        ws.close()
