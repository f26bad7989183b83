MATCH (l:ListEntry)
WHERE l.entry_id IN $ids
RETURN properties(l) AS p
