MATCH (x:DishonestyRecord)
WHERE x.record_id IN $ids
RETURN properties(x) AS p
