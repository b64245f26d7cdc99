"""One settings object for all of Tomes, with nested groups, every field described.

Precedence, lowest first: defaults < environment (`TOMES_<GROUP>_<FIELD>`, plus short aliases)
< per-project overrides stored in the project < explicit overrides (CLI flags, UI settings).
Every value is validated; an invalid one raises `SettingsError` naming the setting, the bad value,
what is allowed and how to set it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.errors import SettingsError

__all__ = [
    "BackendName",
    "IngestSettings",
    "MemorySettings",
    "ModelSettings",
    "OcrSettings",
    "RetrievalSettings",
    "SettingValue",
    "Settings",
    "default_home",
]


BackendName = Literal["llama.cpp", "torch", "openai", "fake"]
#: A setting's value as given in overrides (dotted key -> value; None: not given).
SettingValue = str | int | float | bool | None


def _f(default: Any, help: str, **rules: Any) -> Any:
    return field(default=default, metadata={"help": help, **rules})


@dataclass(frozen=True)
class ModelSettings:
    """Which model answers, and how it runs."""

    backend: Literal["llama.cpp", "torch", "openai", "fake"] = _f(
        "llama.cpp", "Model backend.", choices=("llama.cpp", "torch", "openai", "fake")
    )
    path: str = _f(
        "", "Model file (.gguf) or torch model folder; empty = the embedded default model."
    )
    n_ctx: int = _f(8192, "Context window in tokens.", min=512, max=1_048_576)
    threads: int = _f(0, "CPU threads for llama.cpp; 0 = number of physical cores.", min=0, max=512)
    gpu_layers: int = _f(
        -1, "Layers offloaded to the GPU; -1 = all when the build has CUDA/Metal.", min=-1, max=1000
    )
    temperature: float = _f(0.1, "Sampling temperature.", min=0.0, max=2.0)
    max_answer_tokens: int = _f(512, "Longest answer, in tokens.", min=16, max=32_768)
    seed: int = _f(0, "Sampling seed (answers are reproducible with the same seed).", min=0)
    base_url: str = _f(
        "", "OpenAI-compatible server URL (backend=openai), e.g. http://127.0.0.1:8000/v1."
    )
    api_model: str = _f("", "Model name to request from the OpenAI-compatible server.")
    api_key: str = _f("", "API key for the OpenAI-compatible server, if it needs one.")


@dataclass(frozen=True)
class IngestSettings:
    """How documents are read and cut into chunks."""

    chunk_tokens: int = _f(400, "Largest chunk, in tokens.", min=64, max=4096)
    overlap_tokens: int = _f(40, "Tokens a chunk repeats from the previous one.", min=0, max=512)
    max_file_mb: int = _f(512, "Largest document file read, in MB.", min=1, max=65_536)
    max_code_file_kb: int = _f(
        2048, "Largest source file read from a folder or .zip, in KB.", min=1, max=1_048_576
    )
    max_pages: int = _f(
        20_000,
        "Largest PDF read, in pages (a small file can declare millions).",
        min=1,
        max=10_000_000,
    )
    workers: int = _f(
        0,
        "Processes that read and chunk files in parallel for big batches (a folder, a zip); "
        "0 = one per CPU core, 1 = read everything in the ingesting process.",
        min=0,
        max=256,
    )
    inline_mb: int = _f(
        8,
        "Prepared text, in MB, one document may hold in memory; a bigger document is spooled "
        "to disk and written in several short transactions.",
        min=1,
        max=4096,
    )
    embed: bool = _f(
        True,
        "`tomes ingest` embeds what it added before it returns, so the first question already "
        "has dense search (`--no-embed` skips it for one run; `tomes index` does it later).",
    )
    embed_max: int = _f(
        20_000,
        "At most this many passages are embedded by `tomes ingest` itself (about 3 minutes on "
        "2 cores); a bigger batch is left to `tomes index` or the app's background indexing, "
        "so ingest of a huge corpus returns at once with keyword search ready.",
        min=0,
        max=100_000_000,
    )


@dataclass(frozen=True)
class RetrievalSettings:
    """How context is found and packed for a question."""

    budget: int = _f(2048, "Context budget in tokens for an answer.", min=128, max=1_000_000)
    embeddings: bool = _f(True, "Use dense embeddings next to keyword (BM25) search.")
    embedder: Literal["auto", "onnx-int8", "onnx", "numpy", "torch"] = _f(
        "auto",
        "Which implementation of the embedding model (all-MiniLM-L6-v2) runs: 'auto' = ONNX "
        "Runtime int8 when onnxruntime is installed, else numpy; 'onnx' = ONNX Runtime fp32 "
        "(the numpy vectors exactly); 'torch' = sentence-transformers. Each stores its own "
        "vectors, so changing it re-embeds the project.",
        choices=("auto", "onnx-int8", "onnx", "numpy", "torch"),
    )
    dense_unit: Literal["windows", "chunk"] = _f(
        "windows",
        "What one dense vector covers: 'windows' (runs of whole sentences, a chunk scored by "
        "its best window or their mean: a one-sentence fact is not diluted by its chunk) or "
        "'chunk' (one vector per chunk). Changing it re-embeds the project.",
        choices=("windows", "chunk"),
    )
    candidates: int = _f(60, "Candidates taken from each retriever before fusion.", min=5, max=2000)
    fusion: Literal["score", "rrf"] = _f(
        "score",
        "How keyword and dense rankings are combined: 'score' (normalized scores, keeps a rare "
        "name's lead) or 'rrf' (reciprocal ranks).",
        choices=("score", "rrf"),
    )
    list_groups: int = _f(
        4, "For 'list every …' questions: parts of the corpus read one by one.", min=1, max=64
    )
    rrf_k: int = _f(
        20, "Reciprocal-rank-fusion constant (lower trusts the top ranks more).", min=1, max=1000
    )
    evidence_tokens: int = _f(
        420,
        "Evidence budget in tokens for a specific question: the sentences that answer it, "
        "ranked out of the retrieved passages (a few hundred tokens keep answers fast).",
        min=64,
        max=100_000,
    )
    evidence_meaning: bool = _f(
        True,
        "Rank evidence sentences by meaning too (dense embeddings of the best candidate "
        "sentences; needs retrieval.embeddings).",
    )
    yesno_model: bool = _f(
        False,
        "Put yes/no questions to the model; off: relevant evidence is the Yes (measured more "
        "accurate with the small embedded model).",
    )


@dataclass(frozen=True)
class MemorySettings:
    """How the summary tree is built."""

    mode: Literal["extractive", "abstractive"] = _f(
        "extractive",
        "Level-1 summaries: 'extractive' (key sentences, no model) or 'abstractive' "
        "(model-written).",
        choices=("extractive", "abstractive"),
    )
    fanout: int = _f(6, "Children summarized into one node.", min=2, max=64)
    summary_tokens: int = _f(160, "Target length of one summary, in tokens.", min=32, max=2048)
    auto_build: bool = _f(True, "Build the tree in the background after ingest.")


@dataclass(frozen=True)
class OcrSettings:
    """How scanned pages (PDF pages without text, image files) are read. Defaults chosen on
    bench/ocr.py."""

    enabled: bool = _f(True, "Read scanned pages with OCR (ingest and the background job).")
    engine: str = _f(
        "tesseract",
        "OCR engine: 'tesseract' (bundled) or 'rapidocr' (needs the ocr-rapid extra).",
        choices=("tesseract", "rapidocr"),
    )
    dpi: int = _f(200, "Resolution scanned PDF pages are rendered at for OCR.", min=72, max=600)
    workers: int = _f(0, "Pages read at once; 0 = one per CPU core.", min=0, max=64)
    low_confidence: float = _f(
        0.80, "Pages read with less mean confidence are marked as doubtful.", min=0.0, max=1.0
    )
    unreadable_confidence: float = _f(
        0.55, "Pages read with less mean confidence are flagged and not indexed.", min=0.0, max=1.0
    )


_GROUPS: dict[str, type] = {
    "model": ModelSettings,
    "ingest": IngestSettings,
    "retrieval": RetrievalSettings,
    "memory": MemorySettings,
    "ocr": OcrSettings,
}

# Short environment names users actually type.
_ALIASES = {
    "TOMES_MODEL": "model.path",
    "TOMES_BACKEND": "model.backend",
    "TOMES_THREADS": "model.threads",
    "TOMES_N_CTX": "model.n_ctx",
    "TOMES_BUDGET": "retrieval.budget",
    "TOMES_BASE_URL": "model.base_url",
}


def default_home() -> Path:
    """Where Tomes keeps everything when TOMES_HOME is not set (platform user data dir)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("tomes", appauthor=False))


def _env_name(group: str, name: str) -> str:
    return f"TOMES_{group.upper()}_{name.upper()}"


def _coerce(key: str, value: Any, f: dataclasses.Field[Any], source: str) -> Any:
    """Parse and validate one value; `source` says where it came from, for the error message."""
    kind = type(f.default)
    hint = f"set it with {source}" if source else ""
    try:
        if kind is bool:
            if isinstance(value, bool):
                parsed: Any = value
            elif str(value).strip().lower() in ("1", "true", "yes", "on"):
                parsed = True
            elif str(value).strip().lower() in ("0", "false", "no", "off"):
                parsed = False
            else:
                raise ValueError
        elif kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            parsed = int(value)
        elif kind is float:
            parsed = float(value)
        else:
            parsed = str(value)
    except (TypeError, ValueError):
        wanted = "true/false" if kind is bool else "a number" if kind in (int, float) else "text"
        msg = f"{key} must be {wanted} (got {value!r}); {hint}"
        raise SettingsError(msg.rstrip("; ")) from None
    rules = f.metadata
    if "choices" in rules and parsed not in rules["choices"]:
        raise SettingsError(
            f"{key} must be one of {', '.join(rules['choices'])} (got {parsed!r}); {hint}".rstrip(
                "; "
            )
        )
    if "min" in rules and parsed < rules["min"]:
        raise SettingsError(
            f"{key} must be at least {rules['min']} (got {parsed}); {hint}".rstrip("; ")
        )
    if "max" in rules and parsed > rules["max"]:
        raise SettingsError(
            f"{key} must be at most {rules['max']} (got {parsed}); {hint}".rstrip("; ")
        )
    return parsed


@dataclass(frozen=True)
class Settings:
    """Everything Tomes can be told, in one frozen object. Build it with `Settings.load()`."""

    home: Path = field(default_factory=default_home)
    model: ModelSettings = field(default_factory=ModelSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    ocr: OcrSettings = field(default_factory=OcrSettings)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        project: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Defaults, then environment, then per-project overrides, then explicit overrides.

        `project` and `overrides` map dotted keys ("model.n_ctx") to values; None values are
        ignored so CLI flags that were not given can be passed straight through.
        """
        env = os.environ if env is None else env
        home_env = env.get("TOMES_HOME")
        base = cls(home=Path(home_env).expanduser() if home_env else default_home())
        from_env: dict[str, tuple[Any, str]] = {}
        for group, group_cls in _GROUPS.items():
            for f in dataclasses.fields(group_cls):
                name = _env_name(group, f.name)
                if name in env:
                    from_env[f"{group}.{f.name}"] = (env[name], name)
        for alias, key in _ALIASES.items():
            if alias in env and key not in from_env:
                from_env[key] = (env[alias], alias)
        settings = base._apply(
            {k: v for k, (v, _) in from_env.items()}, {k: s for k, (_, s) in from_env.items()}
        )
        if project:
            settings = settings._apply(project, dict.fromkeys(project, "the project's settings"))
        if overrides:
            settings = settings._apply(overrides, dict.fromkeys(overrides, ""))
        settings.validate()
        return settings

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """A copy with dotted-key overrides applied and validated."""
        settings = self._apply(overrides, dict.fromkeys(overrides, ""))
        settings.validate()
        return settings

    def _apply(self, values: Mapping[str, Any], sources: Mapping[str, str]) -> Settings:
        groups: dict[str, dict[str, Any]] = {g: {} for g in _GROUPS}
        for key, value in values.items():
            if value is None:
                continue
            if key == "home":
                continue
            group, _, name = key.partition(".")
            if group not in _GROUPS:
                raise SettingsError(
                    f"unknown setting {key!r}; groups are {', '.join(_GROUPS)} (e.g. model.n_ctx)"
                )
            fields = {f.name: f for f in dataclasses.fields(_GROUPS[group])}
            if name not in fields:
                raise SettingsError(
                    f"unknown setting {key!r}; {group} has {', '.join(sorted(fields))}"
                )
            source = sources.get(key) or ""
            groups[group][name] = _coerce(key, value, fields[name], source)
        changes = {
            g: dataclasses.replace(getattr(self, g), **vals) for g, vals in groups.items() if vals
        }
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Cross-field checks (single fields are checked as they are parsed)."""
        m, i, r = self.model, self.ingest, self.retrieval
        if i.overlap_tokens >= i.chunk_tokens // 2:
            raise SettingsError(
                f"ingest.overlap_tokens ({i.overlap_tokens}) must be less than half of "
                f"ingest.chunk_tokens ({i.chunk_tokens})"
            )
        if m.backend == "openai" and not m.base_url:
            raise SettingsError(
                "the openai backend needs a server URL (model.base_url), e.g. "
                "http://127.0.0.1:8000/v1"
            )
        if m.path and m.backend == "llama.cpp" and not m.path.lower().endswith(".gguf"):
            raise SettingsError(
                f"model.path must be a .gguf file for the llama.cpp backend (got {m.path!r}); "
                "choose the torch backend for a transformers model folder"
            )
        if r.budget + m.max_answer_tokens + 256 > m.n_ctx:
            raise SettingsError(
                f"retrieval.budget ({r.budget}) + model.max_answer_tokens ({m.max_answer_tokens}) "
                f"+ the prompt's instructions do not fit model.n_ctx ({m.n_ctx}); lower the "
                "context budget or raise n_ctx"
            )

    # ------------------------------------------------------------------ views
    def to_dict(self) -> dict[str, Any]:
        """Dotted-key view of every group setting (not `home`)."""
        out: dict[str, Any] = {}
        for group in _GROUPS:
            for key, value in dataclasses.asdict(getattr(self, group)).items():
                out[f"{group}.{key}"] = value
        return out

    def hash(self, *groups: str) -> str:
        """Short stable hash of the named groups (all when none), recorded with derived data."""
        names = groups or tuple(_GROUPS)
        data = {g: dataclasses.asdict(getattr(self, g)) for g in names}
        if "model" in data:
            data["model"].pop("api_key", None)  # a secret must not leak into stored hashes
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @staticmethod
    def describe() -> list[tuple[str, str, Any, str]]:
        """(dotted key, environment variable, default, help) for every setting."""
        rows = []
        for group, group_cls in _GROUPS.items():
            for f in dataclasses.fields(group_cls):
                rows.append(
                    (f"{group}.{f.name}", _env_name(group, f.name), f.default, f.metadata["help"])
                )
        return rows

    @property
    def projects_dir(self) -> Path:
        return self.home / "projects"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"
