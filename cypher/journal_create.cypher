// $rows: {id, seq, doc} with doc the row as JSON text.
UNWIND $rows AS row
CREATE (j:Journal {tbl: $tbl, id: row.id, seq: row.seq, doc: row.doc})
