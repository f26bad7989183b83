// Subjects matching every criterion, ordered by key, $limit of them from $offset (Store.search_subjects).
// $text is lower-cased by the caller and matched without case: an organisation's code starts with it or
// its name contains it; a person's name or masked ID number contains it. $region is a prefix of the
// division code; $industry (null: any) equals the organisation's. Each branch stops at $wanted = offset
// + limit rows, read in the order of the unique code / key index.
CALL {
  MATCH (o:Organisation)
  WHERE $organisations AND NOT o:Placeholder
    AND (toLower(o.code) STARTS WITH $text OR toLower(o.name) CONTAINS $text)
    AND o.region STARTS WITH $region
    AND ($industry IS NULL OR o.industry = $industry)
  RETURN o.code AS key, properties(o) AS p, false AS person
  ORDER BY key
  LIMIT $wanted
  UNION ALL
  MATCH (x:Person)
  WHERE $persons AND NOT x:Placeholder
    AND (toLower(x.name) CONTAINS $text OR toLower(x.masked_id) CONTAINS $text)
    AND x.region STARTS WITH $region
  RETURN x.key AS key, properties(x) AS p, true AS person
  ORDER BY key
  LIMIT $wanted
}
RETURN key, p, person
ORDER BY key
SKIP $offset
LIMIT $limit
