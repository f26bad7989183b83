MATCH (f:DerivedFact)
WHERE f.target IN $targets
RETURN properties(f) AS p
