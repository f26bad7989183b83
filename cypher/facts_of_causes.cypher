MATCH (f:DerivedFact)
WHERE f.cause IN $causes
RETURN properties(f) AS p
