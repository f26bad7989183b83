MATCH (j:Journal {tbl: $tbl, id: $id})
SET j.doc = $doc
