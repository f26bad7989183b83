MATCH (l:ListEntry)
RETURN properties(l) AS p
ORDER BY l.entry_id
