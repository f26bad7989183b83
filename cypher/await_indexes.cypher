// Wait until the indexes and constraints of schema.cypher are online (init-schema only).
CALL db.awaitIndexes($timeout_seconds)
