// Rows of one journal table, oldest first; the store filters them on fields of the JSON doc.
// Both properties of the journal_seq index are constrained, so it can serve the seek and the order.
MATCH (j:Journal)
WHERE j.tbl = $tbl AND j.seq IS NOT NULL
RETURN j.doc AS doc
ORDER BY j.tbl, j.seq
