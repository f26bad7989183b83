MATCH (o:Organisation)
WHERE o.code IN $codes AND NOT o:Placeholder
RETURN properties(o) AS p
