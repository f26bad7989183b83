// Rows of one journal table, oldest first; the store filters them on fields of the JSON doc.
MATCH (j:Journal {tbl: $tbl})
RETURN j.doc AS doc
ORDER BY j.seq
