"""The language model: backends behind one protocol, the one loaded model a process shares,
the embedded model file, and the prompts every backend gets.

    backends/      Backend, TokenStream and the registry: llama.cpp, torch, OpenAI-compatible
                   servers, and the deterministic fake
    models.py      ModelManager: loads the backend the settings name, one user at a time,
                   questions before background work
    modelfile.py   the embedded GGUF (assembled from installed parts, sha256-verified) and
                   checks on user-supplied files
    prompts.py     the answer and list prompts, and how a source is introduced in them
"""
