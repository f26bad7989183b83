MATCH (x:DishonestyRecord)
RETURN properties(x) AS p
ORDER BY x.record_id
