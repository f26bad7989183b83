"""The Neo4j store: the store itself, and its Cypher statements (package data mapped from the repository's
``cypher/`` directory, loaded by name by ``cypher``).
"""

from .store import CheckReads, Neo4jStore

__all__ = ["CheckReads", "Neo4jStore"]
