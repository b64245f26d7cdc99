"""Derived indexes over a project's chunks, built in the background after ingest and never
waited for by a question.

    lexical.py     BM25 (Snowball-stemmed and exact words), saved next to the project database
    embed/         dense embeddings: the Embedder protocol, MiniLM on numpy or torch, what is
                   pending in a project, and the in-memory VectorIndex
    tree/          the summary tree: plan, summarize, build, read
    indexer.py     BackgroundIndexer: one worker thread per project, its progress and state
"""
