// Upsert red / black list entries; each refers to its subject by key (list_entry_subject index).
UNWIND $rows AS row
MERGE (l:ListEntry {entry_id: row.entry_id})
SET l += row
