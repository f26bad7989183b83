MATCH (h:Honour)
RETURN properties(h) AS p
ORDER BY h.honour_id
