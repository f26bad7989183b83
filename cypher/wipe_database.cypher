// Delete every node and relationship: used by the conformance suite on its test database only.
MATCH (n)
DETACH DELETE n
