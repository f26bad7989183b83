MATCH (h:Honour)
WHERE h.honour_id IN $ids
RETURN properties(h) AS p
