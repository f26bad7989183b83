MATCH (f:DerivedFact)
RETURN properties(f) AS p
ORDER BY f.fact_id
