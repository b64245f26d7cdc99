"""Derived indexes over a project's chunks, built by `tomes ingest` or in the background after
it, and never waited for by a question.

    lexical.py     BM25 (Snowball-stemmed words, exact words, defined code symbols), saved next
                   to the project database
    symbols.py     the names a source chunk defines, and the words inside identifiers
    embed/         dense embeddings: the Embedder protocol, MiniLM on ONNX Runtime, numpy or
                   torch, sentence windows, what is pending in a project, the VectorIndex
    tree/          the summary tree: plan, summarize, build, read
    indexer.py     BackgroundIndexer: one worker thread per project, its progress and state
"""
