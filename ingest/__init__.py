"""Reading files into text with exact locations, independent of the engine (it imports
neither `engine` nor `app`).

    sources.py     walk files, folders (.gitignore honoured) and .zip archives into Sources
    readers/       PDF, DOCX, text/Markdown and code readers: Source -> Document of blocks
    chunking.py    blocks -> token-bounded chunks that keep their page / line / paragraph span
    tokens.py      the cl100k tokenizer, read offline
    types.py       Source, Document, Block, Chunk, Locator, Skipped
    errors.py      IngestError and its kinds, each naming the file and the reason
"""
