"""File-type tables: which names Tomes reads, with which reader, and as which language.

Pure data and lookups, no I/O, so that the source walker can classify files without importing
any reader library.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from ingest.types import DocKind

__all__ = [
    "ARCHIVE_SUFFIXES",
    "BINARY_SUFFIXES",
    "CODE_LANGUAGES",
    "DATA_LANGUAGES",
    "DOCUMENT_SUFFIXES",
    "FILENAME_LANGUAGES",
    "IMAGE_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "SUPPORTED_SUMMARY",
    "TEXT_SUFFIXES",
    "UNSUPPORTED_DOCUMENT_SUFFIXES",
    "base_name",
    "kind_for",
    "language_for",
]

#: What every "unsupported" message tells the user Tomes can read.
SUPPORTED_SUMMARY: Final = (
    "Tomes reads PDF, DOCX, text, Markdown, source code and scanned images (PNG, JPEG, TIFF)"
)

#: Image files read as scanned pages (OCR). Inside a folder or archive they stay skipped as
#: binary (a repository's icons are not documents): add image files directly.
IMAGE_SUFFIXES: Final = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".bmp", ".webp"}
)

MARKDOWN_SUFFIXES: Final = frozenset({".md", ".markdown", ".mdx", ".mkd", ".mdown"})
TEXT_SUFFIXES: Final = frozenset(
    {".txt", ".text", ".rst", ".log", ".csv", ".tsv", ".org", ".adoc", ".asciidoc"}
)

#: Suffixes that are prose documents: inside a folder they get the (large) document size limit
#: rather than the source-file limit. Data-like text (.csv, .tsv, .log) is deliberately not
#: here: a 300 MB log inside a repository is almost never what the user wants to read.
DOCUMENT_SUFFIXES: Final = frozenset(
    {".pdf", ".docx", ".txt", ".text", ".rst", ".org", ".adoc", ".asciidoc"} | MARKDOWN_SUFFIXES
)

#: Archives are never expanded when found inside a folder or another archive.
ARCHIVE_SUFFIXES: Final = frozenset(
    {".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".zst", ".7z", ".rar", ".jar"}
    | {".war", ".whl", ".egg", ".apk", ".ipa", ".nupkg", ".crate"}
)

#: Office and e-book formats users may expect Tomes to read; named in the skip reason.
UNSUPPORTED_DOCUMENT_SUFFIXES: Final = frozenset(
    {".doc", ".dot", ".docm", ".dotx", ".rtf", ".odt", ".ods", ".odp", ".xls", ".xlsx"}
    | {".xlsm", ".ppt", ".pptx", ".key", ".pages", ".numbers", ".epub", ".mobi", ".djvu"}
)

#: Suffixes known to be binary, skipped inside a folder without opening the file.
BINARY_SUFFIXES: Final = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ico", ".icns"}
    | {".heic", ".psd", ".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aac", ".mp4", ".mov"}
    | {".avi", ".mkv", ".webm", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".exe", ".dll"}
    | {".so", ".dylib", ".a", ".o", ".obj", ".lib", ".bin", ".class", ".pyc", ".pyo"}
    | {".pyd", ".wasm", ".db", ".sqlite", ".sqlite3", ".parquet", ".feather", ".arrow"}
    | {".npy", ".npz", ".pkl", ".pickle", ".pt", ".pth", ".onnx", ".gguf", ".safetensors"}
    | {".h5", ".hdf5", ".iso", ".dmg", ".img", ".sketch", ".fig", ".blend", ".glb", ".mat"}
)

# Extension -> language. Lower-case suffixes, with the dot.
_EXT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "python": (".py", ".pyi", ".pyw", ".pyx", ".pxd"),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "java": (".java",),
    "kotlin": (".kt", ".kts"),
    "scala": (".scala", ".sc"),
    "groovy": (".groovy", ".gradle"),
    "go": (".go",),
    "rust": (".rs",),
    "c": (".c", ".h"),
    "cpp": (".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".inl"),
    "csharp": (".cs", ".csx"),
    "fsharp": (".fs", ".fsi", ".fsx"),
    "swift": (".swift",),
    "objective-c": (".m", ".mm"),
    "ruby": (".rb", ".rake", ".gemspec"),
    "php": (".php", ".phtml"),
    "perl": (".pl", ".pm", ".t"),
    "lua": (".lua",),
    "r": (".r", ".rmd"),
    "julia": (".jl",),
    "dart": (".dart",),
    "elixir": (".ex", ".exs"),
    "erlang": (".erl", ".hrl"),
    "haskell": (".hs", ".lhs"),
    "ocaml": (".ml", ".mli"),
    "clojure": (".clj", ".cljs", ".cljc", ".edn"),
    "lisp": (".lisp", ".lsp", ".cl", ".el"),
    "scheme": (".scm", ".ss", ".rkt"),
    "zig": (".zig",),
    "nim": (".nim",),
    "crystal": (".cr",),
    "shell": (".sh", ".bash", ".zsh", ".ksh", ".fish"),
    "powershell": (".ps1", ".psm1", ".psd1"),
    "batch": (".bat", ".cmd"),
    "sql": (".sql",),
    "html": (".html", ".htm", ".xhtml"),
    "css": (".css", ".scss", ".sass", ".less"),
    "vue": (".vue",),
    "svelte": (".svelte",),
    "xml": (".xml", ".xsd", ".xsl", ".xslt", ".svg", ".plist"),
    "json": (".json", ".jsonc", ".json5", ".ipynb"),
    "yaml": (".yml", ".yaml"),
    "toml": (".toml",),
    "ini": (".ini", ".cfg", ".conf", ".properties", ".env"),
    "make": (".mk", ".mak"),
    "cmake": (".cmake",),
    "protobuf": (".proto",),
    "graphql": (".graphql", ".gql"),
    "terraform": (".tf", ".tfvars", ".hcl"),
    "solidity": (".sol",),
    "verilog": (".v", ".sv", ".svh"),
    "vhdl": (".vhd", ".vhdl"),
    "fortran": (".f", ".f90", ".f95", ".f03", ".for"),
    "pascal": (".pas", ".pp"),
    "assembly": (".asm", ".s"),
    "latex": (".tex", ".sty", ".cls", ".bib"),
    "nix": (".nix",),
    "elm": (".elm",),
    "starlark": (".bzl", ".star"),
    "awk": (".awk",),
}

#: Suffix -> language name for source code.
CODE_LANGUAGES: Final = MappingProxyType(
    {ext: lang for lang, exts in _EXT_LANGUAGES.items() for ext in exts}
)

#: Whole file names (case-sensitive) that identify a language without an extension.
FILENAME_LANGUAGES: Final = MappingProxyType(
    {
        "Makefile": "make",
        "makefile": "make",
        "GNUmakefile": "make",
        "Dockerfile": "dockerfile",
        "Containerfile": "dockerfile",
        "CMakeLists.txt": "cmake",
        "Rakefile": "ruby",
        "Gemfile": "ruby",
        "Vagrantfile": "ruby",
        "Podfile": "ruby",
        "Jenkinsfile": "groovy",
        "BUILD": "starlark",
        "BUILD.bazel": "starlark",
        "WORKSPACE": "starlark",
        "Justfile": "make",
        "justfile": "make",
        ".bashrc": "shell",
        ".bash_profile": "shell",
        ".zshrc": "shell",
        ".profile": "shell",
        ".gitignore": "gitignore",
        ".dockerignore": "gitignore",
        ".editorconfig": "ini",
        ".gitattributes": "gitattributes",
    }
)

#: Languages that are data or markup: code splitting uses blank-line boundaries only, never
#: definition keywords (a YAML key named `class:` is not a class).
DATA_LANGUAGES: Final = frozenset(
    {"json", "yaml", "toml", "ini", "xml", "html", "css", "gitignore", "gitattributes"}
    | {"latex", "vue", "svelte", "graphql", "protobuf"}
)


def base_name(name: str) -> str:
    """The last path component of a `Source.name` ('repo/src/a.py' -> 'a.py')."""
    return name.rsplit("/", 1)[-1]


def language_for(name: str, suffix: str) -> str | None:
    """The programming language of a file from its name and lower-case suffix, if known."""
    by_name = FILENAME_LANGUAGES.get(base_name(name))
    if by_name is not None:
        return by_name
    return CODE_LANGUAGES.get(suffix)


def kind_for(name: str, suffix: str) -> DocKind | None:
    """The document kind implied by a file's name alone, or None when only content can tell."""
    if suffix == ".pdf":
        return DocKind.PDF
    if suffix == ".docx":
        return DocKind.DOCX
    if suffix in IMAGE_SUFFIXES:
        return DocKind.IMAGE
    if suffix in MARKDOWN_SUFFIXES:
        return DocKind.MARKDOWN
    if base_name(name) in FILENAME_LANGUAGES:
        return DocKind.CODE
    if suffix in TEXT_SUFFIXES:
        return DocKind.TEXT
    if suffix in CODE_LANGUAGES:
        return DocKind.CODE
    return None
