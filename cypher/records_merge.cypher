// Upsert records and (re)link each to the subject it concerns.
UNWIND $rows AS row
MERGE (x:DishonestyRecord {record_id: row.record_id})
SET x += row
WITH x, row
OPTIONAL MATCH (x)-[old:CONCERNS]->()
DELETE old
WITH DISTINCT x, row
MATCH (s:Subject {id: row.subject})
MERGE (x)-[:CONCERNS]->(s)
