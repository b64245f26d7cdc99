"""The project database schema, as an append-only list of migrations.

A migration that has shipped is never edited: change the schema by appending a new function.
`tests/reliability/test_upgrade.py` opens every checked-in database written by an earlier
schema (tests/data/, made by tests/data/make_project_fixture.py) and runs every later
migration over it, so users never lose documents, chats or notes on upgrade.
"""

from __future__ import annotations

from functools import cache

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

__all__ = ["MIGRATIONS", "migration_names"]

MIGRATIONS = Migrations("tomes")


@cache
def migration_names() -> tuple[str, ...]:
    """Every migration this code knows, in order. sqlite-utils keeps its registry private,
    so ask its public API: on an empty database, every migration is pending."""
    return tuple(m.name for m in MIGRATIONS.pending(Database(memory=True)))


@MIGRATIONS()
def m001_documents(db: Database) -> None:
    """Project metadata, documents, their blocks (for the source viewer) and chunks with FTS5."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,            -- sha256 of the file's bytes
            name TEXT NOT NULL,             -- as the user added it
            source_key TEXT NOT NULL,       -- absolute path, or archive!member
            kind TEXT NOT NULL,
            language TEXT,
            path TEXT,
            size_bytes INTEGER NOT NULL,
            n_pages INTEGER,
            n_blocks INTEGER NOT NULL DEFAULT 0,
            n_chunks INTEGER NOT NULL DEFAULT 0,
            n_tokens INTEGER NOT NULL DEFAULT 0,
            ocr_pages TEXT NOT NULL DEFAULT '[]',
            meta TEXT NOT NULL DEFAULT '{}',
            added_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX documents_source_key ON documents(source_key)")
    db.execute(
        """
        CREATE TABLE blocks (
            doc_id TEXT NOT NULL REFERENCES documents(id),
            ordinal INTEGER NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            page INTEGER,
            line_start INTEGER,
            line_end INTEGER,
            paragraph INTEGER,
            heading_path TEXT NOT NULL DEFAULT '[]',
            needs_ocr INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (doc_id, ordinal)
        )
        """
    )
    db.execute("CREATE INDEX blocks_page ON blocks(doc_id, page)")
    db.execute(
        """
        CREATE TABLE chunks (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            doc_id TEXT NOT NULL REFERENCES documents(id),
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            n_tokens INTEGER NOT NULL,
            overlap INTEGER NOT NULL DEFAULT 0,
            char_start INTEGER NOT NULL DEFAULT 0,
            page INTEGER,
            page_end INTEGER,
            line_start INTEGER,
            line_end INTEGER,
            paragraph INTEGER,
            paragraph_end INTEGER,
            heading_path TEXT NOT NULL DEFAULT '[]',
            segments TEXT NOT NULL DEFAULT '[]'
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX chunks_doc_ordinal ON chunks(doc_id, ordinal)")
    # Porter stemming: "terminate" finds "termination"; unicode61 folds case and diacritics.
    db["chunks"].enable_fts(["text"], create_triggers=True, tokenize="porter unicode61")  # type: ignore[union-attr]


@MIGRATIONS()
def m002_memory(db: Database) -> None:
    """The summary tree's nodes (with their chunk span and how they were made) and dense
    vectors for chunks and nodes."""
    db.execute(
        """
        CREATE TABLE nodes (
            id INTEGER PRIMARY KEY,
            doc_id TEXT NOT NULL,           -- '' for corpus-level nodes over several documents
            level INTEGER NOT NULL,         -- 1 = summarizes chunks; n = summarizes level n-1
            ordinal INTEGER NOT NULL,       -- position within (doc_id, level)
            chunk_start INTEGER NOT NULL,   -- chunk ordinals covered (per-document nodes)
            chunk_end INTEGER NOT NULL,
            child_ids TEXT NOT NULL,        -- JSON: chunk ids (level 1) or node ids
            children_hash TEXT NOT NULL,    -- a changed child means this node is stale
            text TEXT NOT NULL,
            n_tokens INTEGER NOT NULL,
            made_by TEXT NOT NULL,          -- model id + settings hash, or extractive:<hash>
            page INTEGER,
            page_end INTEGER,
            line_start INTEGER,
            line_end INTEGER,
            paragraph INTEGER,
            paragraph_end INTEGER,
            is_root INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            UNIQUE (doc_id, level, ordinal)
        )
        """
    )
    db["nodes"].enable_fts(["text"], create_triggers=True, tokenize="porter unicode61")  # type: ignore[union-attr]
    db.execute(
        """
        CREATE TABLE embeddings (
            kind TEXT NOT NULL,             -- 'chunk' | 'node'
            ref TEXT NOT NULL,              -- chunk id, or node id as text
            doc_id TEXT NOT NULL,
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,           -- float32, L2-normalized
            text_hash TEXT NOT NULL,        -- a node rewritten since is re-embedded
            PRIMARY KEY (kind, ref, model)
        )
        """
    )
    db.execute("CREATE INDEX embeddings_model ON embeddings(model, kind)")


@MIGRATIONS()
def m003_sessions_notes(db: Database) -> None:
    """Named chat sessions with their messages (each answer stored whole, citations included),
    notes (pinned answers or free text) and per-project settings overrides."""
    db.execute(
        """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            role TEXT NOT NULL,             -- 'user' | 'assistant'
            text TEXT NOT NULL,
            answer_json TEXT,               -- the whole Answer for assistant turns
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX messages_session ON messages(session_id, id)")
    db.execute(
        """
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            message_id INTEGER,             -- the pinned answer, if any
            citations_json TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE TABLE project_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@MIGRATIONS()
def m005_chat_scope(db: Database) -> None:
    """Each chat remembers which documents it asks about (JSON list of document ids; empty:
    every document of the project)."""
    db.execute("ALTER TABLE sessions ADD COLUMN scope TEXT NOT NULL DEFAULT '[]'")


@MIGRATIONS()
def m006_grid(db: Database) -> None:
    """Review grids: their definitions (questions and documents), the computed cells (one per
    document and question, with how each was made) and the reviewer's marks on each cell.

    Cells are derived data, keyed by (document, question) and shared by every grid that asks
    the same question of the same document; `made_by` says what they were computed with, so a
    change means a recompute. Reviews are the user's own work, kept apart from the cells: a
    recomputed cell never loses its review, and an edited answer keeps the original."""
    db.execute(
        """
        CREATE TABLE grids (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            columns TEXT NOT NULL,          -- JSON: [{"question": ..., "label": ...}]
            documents TEXT NOT NULL,        -- JSON: [{"doc_id", "name"}]; empty: every document
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE grid_cells (
            doc_id TEXT NOT NULL,
            question TEXT NOT NULL,
            made_by TEXT NOT NULL,          -- kernel, model, settings, document, question
            state TEXT NOT NULL,            -- found | not_found | unclear | failed
            answer TEXT NOT NULL,
            citations TEXT NOT NULL,        -- JSON: Citation.to_json() with doc_id
            error TEXT NOT NULL DEFAULT '', -- why a failed cell failed
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            PRIMARY KEY (doc_id, question)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE grid_reviews (
            grid_id INTEGER NOT NULL REFERENCES grids(id),
            doc_id TEXT NOT NULL,
            question TEXT NOT NULL,
            reviewed INTEGER NOT NULL DEFAULT 0,
            edited TEXT,                    -- the reviewer's answer; NULL: not edited
            original TEXT NOT NULL DEFAULT '',  -- the model's answer when it was edited
            flagged INTEGER NOT NULL DEFAULT 0,
            comment TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (grid_id, doc_id, question)
        )
        """
    )


@MIGRATIONS()
def m007_ocr(db: Database) -> None:
    """What OCR read on each scanned page: its status and mean confidence, how the page was
    turned, and its words with their character offsets and boxes (for highlighting on the
    page image). A scanned page without a row here is still to be read."""
    db.execute(
        """
        CREATE TABLE ocr_pages (
            doc_id TEXT NOT NULL,
            page INTEGER NOT NULL,          -- 1-based, as in blocks and chunks
            status TEXT NOT NULL,           -- text | low_confidence | unreadable | blank | failed
            confidence REAL NOT NULL,       -- character-weighted mean, 0..1
            engine TEXT NOT NULL,           -- e.g. 'tesseract:eng'
            rotation INTEGER NOT NULL DEFAULT 0,
            skew REAL NOT NULL DEFAULT 0,
            width INTEGER NOT NULL DEFAULT 0,   -- pixels of the image that was read
            height INTEGER NOT NULL DEFAULT 0,
            words TEXT NOT NULL DEFAULT '[]',   -- JSON [[start, end, x0, y0, x1, y1, conf], ...]
            n_chunks INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT '',
            seconds REAL NOT NULL DEFAULT 0,
            done_at TEXT NOT NULL,
            PRIMARY KEY (doc_id, page)
        )
        """
    )


@MIGRATIONS()
def m009_intake(db: Database) -> None:
    """Source fingerprints, so that re-adding an unchanged file skips reading it, and the
    marks of big documents being written in several transactions, so that what a crashed
    writer left is found and removed (issues 12 and 14)."""
    db.execute(
        """
        CREATE TABLE source_files (
            source_key TEXT PRIMARY KEY,    -- absolute path, or archive!member
            doc_id TEXT NOT NULL,           -- the document holding these bytes
            name TEXT NOT NULL,             -- as the user added it
            fingerprint TEXT NOT NULL,      -- size:mtime_ns, or size:crc<CRC-32> in a zip
            checked_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX source_files_doc ON source_files(doc_id)")
    db.execute(
        """
        CREATE TABLE intake_writes (
            doc_id TEXT PRIMARY KEY,        -- rows with this doc_id may exist without a document
            name TEXT NOT NULL,
            pid INTEGER NOT NULL,           -- the writing process ...
            started TEXT NOT NULL,          -- ... its start time (a reused pid is not it) ...
            host TEXT NOT NULL,             -- ... and machine
            started_at TEXT NOT NULL
        )
        """
    )
