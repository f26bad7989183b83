// $rows: maps of Person properties.
UNWIND $rows AS row
MERGE (p:Subject {id: row.key})
SET p:Person, p += row
REMOVE p:Placeholder
