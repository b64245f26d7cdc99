"""The summary tree over every chunk of a project: level-1 nodes summarize runs of chunks,
level n summarizes level n-1, up to a root per document and one corpus root.

    plan.py        which nodes the tree should have (from the chunks alone)
    summarize.py   who writes a node: extractive (no model) or the model, and the prompt
    build.py       build_tree: bottom-up, one node per transaction, resumable; tree_status
    read.py        TreeReader: nodes, roots, children, and BM25 over the summaries
"""
