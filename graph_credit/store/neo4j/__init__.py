"""The Neo4j store: the store itself, and its Cypher statements (package data mapped from the repository's
``cypher/`` directory, loaded by name by ``cypher``).
"""

from .check_reads import CheckReads
from .store import Neo4jStore

__all__ = ["CheckReads", "Neo4jStore"]
