// Read one journal row for update: the no-op write takes the node's write lock first, so two
// concurrent updates of the same row are serialised instead of losing one.
MATCH (j:Journal {tbl: $tbl, id: $id})
SET j.doc = j.doc
RETURN j.doc AS doc
