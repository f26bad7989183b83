MATCH (h:Honour)
WHERE h.holder IN $holders
RETURN properties(h) AS p
