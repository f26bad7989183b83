// Append journal rows ($rows: {id, seq, doc}); an id already in the table is left as it is (MERGE
// under the journal_row constraint, so two appends of one id cannot both create it). seq orders
// rows oldest first: the writer's clock (nanoseconds, monotonic per process), not a shared
// counter, so appends from different API processes do not serialise on one node.
UNWIND $rows AS row
MERGE (j:Journal {tbl: $tbl, id: row.id})
ON CREATE SET j.seq = row.seq, j.doc = row.doc
RETURN sum(CASE WHEN j.seq = row.seq AND j.doc = row.doc THEN 1 ELSE 0 END) AS created
