MATCH (o:Organisation)
WHERE NOT o:Placeholder
RETURN properties(o) AS p
ORDER BY o.code
