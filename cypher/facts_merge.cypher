// Upsert derived facts and (re)link each to its target subject.
UNWIND $rows AS row
MERGE (f:DerivedFact {fact_id: row.fact_id})
SET f += row
WITH f, row
OPTIONAL MATCH (f)-[old:TARGETS]->()
DELETE old
WITH DISTINCT f, row
MATCH (s:Subject {id: row.target})
MERGE (f)-[:TARGETS]->(s)
