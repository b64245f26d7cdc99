"""Sentence windows (what dense retrieval embeds) and code symbols (what the symbol leg
indexes): pure functions over text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.index.embed.windows import sentence_windows, window_texts
from engine.index.symbols import definitions, identifiers, split_identifier


# ---------------------------------------------------------------------------- windows
def test_windows_are_whole_sentences_up_to_the_word_limit() -> None:
    text = "One two three. Four five six seven. Eight nine.\nTen eleven twelve thirteen."
    spans = sentence_windows(text, max_words=6)
    assert [text[a:b] for a, b in spans] == [
        "One two three.",
        "Four five six seven. Eight nine.",
        "Ten eleven twelve thirteen.",
    ]


def test_a_sentence_longer_than_the_limit_is_cut_at_words() -> None:
    text = " ".join(f"w{i}" for i in range(25)) + "."
    spans = sentence_windows(text, max_words=10)
    assert [len(text[a:b].split()) for a, b in spans] == [10, 10, 5]


def test_glued_sentences_from_pdf_extraction_are_split() -> None:
    text = "The margin was vanishingly small.It was not a trick."
    assert [text[a:b] for a, b in sentence_windows(text, max_words=6)] == [
        "The margin was vanishingly small.",
        "It was not a trick.",
    ]


def test_blank_text_has_no_windows_and_window_texts_keeps_one() -> None:
    assert sentence_windows("") == []
    assert sentence_windows(" \n\t ") == []
    assert window_texts("   ") == ["   "]


def test_heading_is_prefixed_to_the_first_window_only() -> None:
    pieces = window_texts("First part. Second part.", ["Terms", "Payment"], max_words=2)
    assert pieces == ["Terms > Payment: First part.", "Second part."]


@given(st.text(alphabet=st.sampled_from("ab .!?\n;:Z"), max_size=300), st.integers(1, 12))
def test_windows_cover_every_word_in_order(text: str, max_words: int) -> None:
    spans = sentence_windows(text, max_words=max_words)
    assert all(a < b for a, b in spans)
    # in order, and nothing but white space between, before or after them
    edges = [0, *(x for span in spans for x in span), len(text)]
    gaps = [text[edges[i] : edges[i + 1]] for i in range(0, len(edges), 2)]
    assert all(not gap.strip() for gap in gaps)
    assert all(len(text[a:b].split()) <= max_words or "." in text[a:b] for a, b in spans)


def test_max_words_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_words"):
        sentence_windows("x", max_words=0)


# ---------------------------------------------------------------------------- symbols
SOURCE = """import os
MAX_RETRIES = 5
def parse_config_file(path):
    return open(path).read()
class ConfigLoader(Base):
    async def load(self):
        if self.ready:
            return parse_config_file(self.path)
export const fetchUser = async (id) => {
function renderPage(x) {
func (s *Server) HandleRequest(w http.ResponseWriter) {
pub fn build_index(store: &Store) -> Result<()> {
static int compute_hash(const char *s, size_t n) {
    return foo(bar);
struct Point {
#define BUFFER_SIZE 1024
type Handler interface {
"""


def test_definitions_in_common_languages_with_their_lines() -> None:
    found = [(s.name, s.kind, s.line) for s in definitions(SOURCE, first_line=10)]
    assert found == [
        ("MAX_RETRIES", "constant", 11),
        ("parse_config_file", "function", 12),
        ("ConfigLoader", "class", 14),
        ("load", "function", 15),
        ("fetchUser", "function", 18),
        ("renderPage", "function", 19),
        ("HandleRequest", "function", 20),
        ("build_index", "function", 21),
        ("compute_hash", "function", 22),
        ("Point", "type", 24),
        ("BUFFER_SIZE", "constant", 25),
        ("Handler", "type", 26),
    ]


def test_calls_and_control_flow_are_not_definitions() -> None:
    text = "    if (x) {\n    return parse(x);\n    while (true) {\nresult = compute(a, b)\n"
    assert definitions(text) == []


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("parse_config_file", ["parse", "config", "file"]),
        ("parseHTTPConfigFile", ["parse", "http", "config", "file"]),
        ("XMLHttpRequest", ["xml", "http", "request"]),
        ("MAX_RETRIES", ["max", "retries"]),
        ("build-index", ["build", "index"]),
        ("sha256sum", ["sha", "256", "sum"]),
    ],
)
def test_split_identifier(name: str, words: list[str]) -> None:
    assert split_identifier(name) == words


def test_identifiers_of_a_question() -> None:
    q = "Where is embed_pending defined, what does VectorIndex.search or load() do in HTTPServer?"
    assert identifiers(q) == ["embed_pending", "VectorIndex", "search", "load", "HTTPServer"]
    assert identifiers("What is the termination notice period?") == []
