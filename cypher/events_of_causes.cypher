MATCH (e:RecordEvent)
WHERE e.cause_id IN $cause_ids
RETURN properties(e) AS p
