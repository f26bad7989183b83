MATCH (p:Person)
WHERE NOT p:Placeholder
RETURN properties(p) AS p
ORDER BY p.key
