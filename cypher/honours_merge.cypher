// Upsert honours and (re)link each to its holder.
UNWIND $rows AS row
MERGE (h:Honour {honour_id: row.honour_id})
SET h += row
WITH h, row
OPTIONAL MATCH (h)-[old:AWARDED_TO]->()
DELETE old
WITH DISTINCT h, row
MATCH (s:Subject {id: row.holder})
MERGE (h)-[:AWARDED_TO]->(s)
