"""Storage: the social data model, its migrations, and vector search.

``Store`` is the one interface over SQLite (default) and PostgreSQL + pgvector.
"""

from townsquare.storage.store import Store, make_engine

__all__ = ["Store", "make_engine"]
