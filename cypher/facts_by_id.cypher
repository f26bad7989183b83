MATCH (f:DerivedFact)
WHERE f.fact_id IN $fact_ids
RETURN properties(f) AS p
