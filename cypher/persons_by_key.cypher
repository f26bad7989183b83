MATCH (p:Person)
WHERE p.key IN $keys AND NOT p:Placeholder
RETURN properties(p) AS p
