MATCH (j:Journal {tbl: $tbl})
WHERE j.id IN $ids
RETURN j.id AS id
