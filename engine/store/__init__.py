"""The store: one SQLite database per project, and the only code in Tomes that speaks SQL.

db.py          ProjectStore: the connection, pragmas, migrations, transaction(), snapshot(),
               meta and per-project settings
migrations.py  the schema, as an append-only list of migrations
codec.py       the one row codec: Locator <-> columns, chunk / block / node rows
fts.py         FTS5 query text and the one "only these documents" clause builder
documents.py   documents, blocks and chunks: add, remove, list, look up, keyword search
nodes.py       summary-tree rows: plan inputs, writes, reads, node search
vectors.py     embedding rows: what is pending, batch writes, pruning, index pages
chats.py       ChatLog: chat sessions, messages and notes, and the saved-answer JSON
grids.py       review grids: definitions, computed cells (with made_by), reviewer marks
projects.py    Project, Projects: the project folders under TOMES_HOME
"""

from engine.store.chats import ChatLog
from engine.store.db import ProjectStore
from engine.store.documents import AddOutcome
from engine.store.fts import fts_query
from engine.store.projects import Project, Projects

__all__ = ["AddOutcome", "ChatLog", "Project", "ProjectStore", "Projects", "fts_query"]
