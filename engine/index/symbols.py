"""Code symbols for retrieval: the names a source chunk defines (functions, methods, classes,
types, constants), the words inside those names, and a question's identifiers.

    for sym in definitions(chunk_text, first_line=40):
        sym.name, sym.kind, sym.line          # "parse_config_file", "function", 52
    split_identifier("parseHTTPConfigFile")   # ["parse", "http", "config", "file"]

Why. A question that names a function ("where is `embed_pending` defined?") matches every
line that calls it as well as the definition, and BM25 prefers the chunk with the most calls;
a question that describes one ("which function parses the config file?") shares no token with
`parse_config_file` at all, since `\\w+` keeps the name whole. Indexing, per chunk, the names
it defines and the words they are made of (engine/index/lexical.py's `symbols` variant) lets both
questions find the definition, and the chunk's line range is the `file:line` citation.

The patterns are deliberately plain (no parser per language): a definition is a line whose
first tokens are a definition keyword and a name, in the languages Tomes reads most (Python,
JavaScript/TypeScript, Go, Rust, Java/Kotlin/C#/Swift/Scala, C/C++, Ruby, PHP, shell), or an
upper-case constant assignment. A miss costs recall of this one ranking leg only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["Symbol", "SymbolKind", "definitions", "identifiers", "split_identifier"]

SymbolKind = Literal["function", "class", "type", "constant", "module"]

_MODS: Final = (
    r"(?:(?:export|default|public|private|protected|internal|static|abstract|final|sealed|open"
    r"|override|async|unsafe|extern|inline|virtual|partial|declare|suspend|pub(?:\([^)]*\))?"
    r"|const(?=\s+fn)|local)\s+)*"
)
_NAME: Final = r"([A-Za-z_$][\w$]*)"
_PATTERNS: Final[tuple[tuple[SymbolKind, re.Pattern[str]], ...]] = (
    # def / fn / func / function / fun / sub / proc (Go methods: func (r *T) Name)
    (
        "function",
        re.compile(
            rf"^\s*{_MODS}(?:def|fn|func(?:\s*\([^)]*\))?|function\*?|fun|sub|proc|defn|defp|defun)"
            rf"\s+{_NAME}"
        ),
    ),
    ("class", re.compile(rf"^\s*{_MODS}(?:class|object|actor|record)\s+{_NAME}")),
    (
        "type",
        re.compile(
            rf"^\s*{_MODS}(?:struct|enum|trait|interface|type|typedef\s+struct|union|protocol)"
            rf"\s+{_NAME}"
        ),
    ),
    ("module", re.compile(rf"^\s*{_MODS}(?:module|namespace|mod|impl(?:<[^>]*>)?)\s+{_NAME}")),
    # JS/TS: const name = (...) => / function(...)
    (
        "function",
        re.compile(
            rf"^\s*{_MODS}(?:const|let|var)\s+{_NAME}\s*(?::[^=]+)?=\s*"
            r"(?:async\s+)?(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|[A-Za-z_$][\w$]*\s*=>)"
        ),
    ),
    # C/C++/Java/C#: `type name(args) {` or `type name(args)` at the end of a line
    (
        "function",
        re.compile(
            r"^\s*(?!(?:return|else|throw|yield|await|new|delete|case|goto)\b)"
            r"(?:[A-Za-z_][\w:<>,\s\*&\[\]]*?[\s\*&])"
            r"(?!(?:if|for|while|switch|return|else|sizeof|catch|new|delete)\b)"
            r"([A-Za-z_]\w*)\s*\([^;{}]*\)\s*(?:const\s*)?(?:\{|$)"
        ),
    ),
    # shell: name() {
    ("function", re.compile(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{")),
    # constants: UPPER_CASE = ... / const UPPER_CASE = ... / #define UPPER_CASE
    (
        "constant",
        re.compile(
            r"^\s*(?:(?:export\s+)?(?:const|static|final|pub\s+const|public\s+static\s+final)"
            r"\s+(?:[\w<>\[\]]+\s+)?)?([A-Z][A-Z0-9_]{2,})\s*(?::[^=]+)?=(?!=)"
        ),
    ),
    ("constant", re.compile(r"^\s*#\s*define\s+([A-Z][A-Z0-9_]{2,})\b")),
)
_KEYWORDS: Final = frozenset(
    "if for while switch return else elif sizeof catch new delete try with case do in of "
    "and or not is".split()
)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A name defined in source text, and the 1-based line of its definition."""

    name: str
    kind: SymbolKind
    line: int


def definitions(text: str, *, first_line: int = 1) -> list[Symbol]:
    """The symbols `text` defines, in order; `first_line` is the line number of its first
    line (a chunk's `line_start`). One symbol per line at most."""
    out: list[Symbol] = []
    for offset, line in enumerate(text.split("\n")):
        if len(line) > 400 or not line.strip():
            continue
        for kind, pattern in _PATTERNS:
            m = pattern.match(line)
            if m and m.group(1) not in _KEYWORDS:
                out.append(Symbol(m.group(1), kind, first_line + offset))
                break
    return out


_CAMEL: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_identifier(name: str) -> list[str]:
    """The lower-case words of an identifier: snake_case, kebab-case, camelCase and
    PascalCase, with acronyms kept whole (`parseHTTPConfig` → parse, http, config)."""
    words: list[str] = []
    for part in re.split(r"[_\-$.\s]+", name):
        words.extend(w.lower() for w in _CAMEL.findall(part))
    return [w for w in words if w]


_IDENT: Final = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")


def identifiers(question: str) -> list[str]:
    """Words of a question written like code identifiers: with an underscore, a mixed-case
    hump (camelCase, PascalCase after the first letter), a dotted path or a call's `()`."""
    out: list[str] = []
    for m in _IDENT.finditer(question):
        word = m.group(0)
        tail = question[m.end() : m.end() + 2]
        if (
            "_" in word.strip("_")
            or "." in word
            or re.search(r"[a-z][A-Z]|[A-Z]{2,}[a-z]", word)
            or tail.startswith("(")
        ):
            out.extend(p for p in word.split(".") if p)
    return out
