MATCH (f:DerivedFact)
WHERE f.fact_id IN $fact_ids
DETACH DELETE f
