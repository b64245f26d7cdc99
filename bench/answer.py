"""Answer benchmark: time to first token against the model's own prompt-processing rate.

    .venv/bin/python -m bench.answer [--model PATH] [--budgets 1024,2048,4096]

In one run, with the embedded model (or --model) through llama.cpp:
  1. raw prompt processing (tokens/s) and generation (tokens/s), measured directly;
  2. for each context budget, `ask` from cold (no cached state): TTFT, the prompt tokens the
     model read, and the overhead = TTFT - prompt_tokens / pp_rate (goal <= 0.3 s); and,
     since one pp rate under-predicts long prompts, the bare model's TTFT on the identical
     prompt from cold, and the overhead against that;
  3. a follow-up in the same chat (KV prefix reuse): TTFT (goal < 1 s);
  4. peak RSS.
Corpus: the CUAD contracts from ../shared/bench (or TOMES_BENCH_DIR); without them, generated
text (it says so). Prints a table and writes bench/results/answer.json (answer-gpu.json when
the build offloads to a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TOMES_BENCH_DIR", ROOT.parent / "shared" / "bench"))

QUESTIONS = [
    "Which law governs these agreements and where are disputes resolved?",
    "What are the termination rights of each party?",
    "What are the payment terms and when are invoices due?",
]
FOLLOW_UP = "And what notice period applies to that?"


def _cold(workspace: object) -> None:
    """Forget every cached KV state so the next prompt is read from scratch."""
    import llama_cpp

    backend = workspace.models.loaded  # type: ignore[attr-defined]
    llm = backend._llm
    llm.reset()
    llm._ctx.kv_cache_clear()
    llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=1 << 30))


def raw_rates(workspace: object, settings: object) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s) measured on the bare model."""
    from engine.llm.backends import ChatMessage, GenerationParams

    with workspace.models.use(settings) as backend:  # type: ignore[attr-defined]
        text = " ".join(
            f"Clause {i}: the supplier delivers goods number {i * 7} on time." for i in range(160)
        )
        _cold(workspace)
        msgs = [ChatMessage("user", text + "\nSummarize.")]
        n_prompt = len(backend.prompt_tokens(msgs))
        t0 = time.perf_counter()
        stream = backend.stream(msgs, GenerationParams(max_tokens=1, temperature=0.0))
        list(stream)
        pp = n_prompt / (time.perf_counter() - t0)
        _cold(workspace)
        msgs = [ChatMessage("user", "Write a long story about a lighthouse keeper.")]
        stream = backend.stream(msgs, GenerationParams(max_tokens=128, temperature=0.0))
        t_first = None
        n = 0
        for _ in stream:
            n += 1
            if t_first is None:
                t_first = time.perf_counter()
        gen = (n - 1) / (time.perf_counter() - t_first) if t_first and n > 1 else 0.0
    return pp, gen


def bare_ttft(workspace: object, settings: object, question: str, context: object) -> float:
    """The bare model's time to first token on the very prompt `ask` sent, from cold: what
    `ask` costs beyond reading its prompt is its TTFT minus this. (A single pp rate
    under-predicts long prompts, whose attention costs more per token.)"""
    from engine.llm.backends import ChatMessage, GenerationParams
    from engine.llm.prompts import answer_preamble, question_message

    msgs = [*answer_preamble(), ChatMessage("user", question_message(context, question))]
    with workspace.models.use(settings) as backend:  # type: ignore[attr-defined]
        _cold(workspace)
        t0 = time.perf_counter()
        # TTFT as `ask` measures it: to the first piece (not past the KV-state save after it)
        stream = backend.stream(msgs, GenerationParams(max_tokens=8, temperature=0.0))
        next(iter(stream), None)
        took = time.perf_counter() - t0
        stream.close()
    n_ask = getattr(context, "__len__", lambda: 0)()
    print(f"  bare prompt: {stream.prompt_tokens} tokens ({n_ask} sources), {took:.2f} s")
    return took


def corpus_files(tmp: Path) -> tuple[list[Path], str]:
    cuad = sorted((BENCH / "cuad" / "pdf").glob("*.pdf"))
    if cuad:
        return cuad, f"CUAD, {len(cuad)} contracts ({BENCH})"
    print("data not found: ../shared/bench/cuad is missing; using generated contracts")
    from tests.support.fixtures import make_pdf

    files = []
    for d in range(5):
        pages = [
            " ".join(
                f"Section {p}.{k}. The parties agree that clause {k} of agreement {d} applies; "
                f"payment is due in {30 + k} days; either party may terminate with {k + 1} "
                "months notice; "
                f"this agreement is governed by the laws of State {d}."
                for k in range(12)
            )
            for p in range(10)
        ]
        files.append(make_pdf(tmp / f"agreement-{d}.pdf", pages))
    return files, "generated (5 contracts)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="a .gguf file (default: the embedded model)")
    parser.add_argument("--budgets", default="1024,2048,4096")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    with tempfile.TemporaryDirectory() as home:
        os.environ["TOMES_HOME"] = home
        from engine.settings import Settings
        from engine.workspace import Workspace

        overrides = {
            "model.n_ctx": 8192,
            "model.max_answer_tokens": 64,
            "retrieval.embeddings": False,
        }
        if args.model:
            overrides["model.path"] = args.model
        settings = Settings.load(overrides=overrides)
        workspace = Workspace(settings)
        files, corpus = corpus_files(Path(home))
        project = workspace.project("bench", create=True)
        list(workspace.ingest(project, files, background_index=False))
        t0 = time.perf_counter()
        pp, gen = raw_rates(workspace, settings)
        load_and_rates_s = time.perf_counter() - t0
        backend = workspace.models.loaded
        gpu = bool(getattr(backend, "uses_gpu", False))
        rows = []
        for budget, question in zip(budgets, QUESTIONS * 3, strict=False):
            _cold(workspace)
            stream = workspace.ask(project, question, overrides={"retrieval.budget": budget})
            answer = stream.result()
            ttft = answer.timings.first_token_s or 0.0
            expected = answer.usage.prompt_tokens / pp
            bare = bare_ttft(workspace, settings, question, answer.context)
            rows.append(
                {
                    "budget": budget,
                    "prompt_tokens": answer.usage.prompt_tokens,
                    "retrieve_s": answer.timings.retrieve_s,
                    "ttft_s": ttft,
                    "expected_s": expected,
                    "overhead_s": ttft - expected,
                    "bare_ttft_s": bare,
                    "overhead_vs_bare_s": ttft - bare,
                    "total_s": answer.timings.total_s,
                }
            )
        # Follow-up in the same thread: the earlier turn is replayed token for token.
        log_project = project
        from engine.store.chats import ChatLog

        with log_project.open() as store:
            session = ChatLog(store).create_session("bench")
        _cold(workspace)
        first = workspace.ask(project, QUESTIONS[0], session_id=session.id).result()
        workspace.record(project, session.id, first)
        follow = workspace.ask(project, FOLLOW_UP, session_id=session.id).result()
        workspace.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "gpu_offload": gpu},
        "model": backend.model_id if backend else "",
        "corpus": corpus,
        "pp_tokens_per_s": pp,
        "gen_tokens_per_s": gen,
        "budgets": rows,
        "followup": {
            "first_ttft_s": first.timings.first_token_s,
            "first_prompt_tokens": first.usage.prompt_tokens,
            "followup_ttft_s": follow.timings.first_token_s,
            "followup_prompt_tokens": follow.usage.prompt_tokens,
            "followup_reused_thread": follow.followup,
        },
        "peak_rss_mb": peak,
        "load_and_rate_s": load_and_rates_s,
    }
    print(f"model: {result['model']}  ({'GPU offload' if gpu else 'CPU'}, {os.cpu_count()} cores)")
    print(f"corpus: {corpus}")
    print(f"raw prompt processing: {pp:,.0f} tokens/s   generation: {gen:,.1f} tokens/s\n")
    print(
        "budget  prompt tok  retrieve s  TTFT s  prompt/pp s  overhead s  bare TTFT s  "
        "overhead vs bare s (goal <= 0.3)"
    )
    for r in rows:
        print(
            f"{r['budget']:>6}  {r['prompt_tokens']:>10}  {r['retrieve_s']:>10.3f}  "
            f"{r['ttft_s']:>6.2f}  {r['expected_s']:>11.2f}  {r['overhead_s']:>10.2f}  "
            f"{r['bare_ttft_s']:>11.2f}  {r['overhead_vs_bare_s']:>18.2f}"
        )
    f = result["followup"]
    print(
        f"\nfollow-up (same chat, KV prefix reused={f['followup_reused_thread']}): TTFT "
        f"{f['followup_ttft_s']:.2f} s for a {f['followup_prompt_tokens']}-token prompt "
        f"(first question: {f['first_ttft_s']:.2f} s)   goal < 1 s"
    )
    print(f"peak RSS: {peak:,.0f} MB")
    out = ROOT / "bench" / "results" / ("answer-gpu.json" if gpu else "answer.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if not __package__:  # run as a file, bench/ingest.py would shadow the ingest package
        sys.exit("run it from the repository root: .venv/bin/python -m bench.answer")
    sys.exit(main())
