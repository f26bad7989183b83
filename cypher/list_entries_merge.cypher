// Upsert red / black list entries and (re)link each to its subject.
UNWIND $rows AS row
MERGE (l:ListEntry {entry_id: row.entry_id})
SET l += row
WITH l, row
OPTIONAL MATCH (l)-[old:LISTS]->()
DELETE old
WITH DISTINCT l, row
MATCH (s:Subject {id: row.subject})
MERGE (l)-[:LISTS]->(s)
