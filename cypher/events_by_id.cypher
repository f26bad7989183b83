MATCH (e:RecordEvent)
WHERE e.event_id IN $ids
RETURN properties(e) AS p
