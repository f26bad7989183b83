// Upsert dishonesty records; each refers to its subject by key (record_subject index).
UNWIND $rows AS row
MERGE (x:DishonestyRecord {record_id: row.record_id})
SET x += row
