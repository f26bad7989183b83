// Wait until the indexes and constraints of schema.cypher are online.
CALL db.awaitIndexes($timeout_seconds)
