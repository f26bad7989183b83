MATCH (l:ListEntry)
WHERE l.subject IN $subjects
RETURN properties(l) AS p
