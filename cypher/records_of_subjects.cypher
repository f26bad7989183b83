MATCH (x:DishonestyRecord)
WHERE x.subject IN $subjects
RETURN properties(x) AS p
