"""Question answering: from a question to a cited, verified answer.

intent.py      what kind of question it is (specific, list, whole-corpus, comparison)
retrieve.py    the Retriever protocol and HybridRetriever (BM25 + dense + tree)
fusion.py      combining rankings: normalized scores or reciprocal ranks
packing.py     choosing what fits the budget, minting keys c1…, ordering for the model
citations.py   resolving the keys in an answer and verifying each quote in its source
answer.py      ask(): retrieve, prompt, stream, and resolve (AnswerStream)
"""
