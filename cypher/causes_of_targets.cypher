MATCH (f:DerivedFact)
WHERE f.target IN $targets
RETURN DISTINCT f.cause AS cause
