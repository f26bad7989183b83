// Upsert derived facts; each refers to its target by key (fact_target index).
UNWIND $rows AS row
MERGE (f:DerivedFact {fact_id: row.fact_id})
SET f += row
