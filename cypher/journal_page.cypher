// One page of a journal table, newest first, before a sequence number (the audit browser's cursor).
// The journal_seq index on (tbl, seq) serves the seek and the order.
MATCH (j:Journal)
WHERE j.tbl = $tbl AND j.seq < $before
RETURN j.seq AS seq, j.doc AS doc
ORDER BY j.tbl DESC, j.seq DESC
LIMIT $limit
