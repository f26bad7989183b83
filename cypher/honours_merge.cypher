// Upsert honours; each refers to its holder by key (honour_holder index).
UNWIND $rows AS row
MERGE (h:Honour {honour_id: row.honour_id})
SET h += row
