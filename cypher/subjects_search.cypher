// Subjects matching every criterion, ordered by key, $limit of them from $offset (Store.search_subjects).
// $text is lower-cased by the caller and matched without case: an organisation's code starts with it or
// its name contains it; a person's name or masked ID number contains it. $region is a prefix of the
// division code; $industry (null: any) equals the organisation's. Each kind stops at $wanted = offset
// + limit rows, read in the order of the unique code / key index.
WITH
  COLLECT {
    MATCH (o:Organisation)
    WHERE $organisations AND NOT o:Placeholder
      AND (toLower(o.code) STARTS WITH $text OR toLower(o.name) CONTAINS $text)
      AND o.region STARTS WITH $region
      AND ($industry IS NULL OR o.industry = $industry)
    WITH o ORDER BY o.code LIMIT $wanted
    RETURN {key: o.code, p: properties(o), person: false} AS row
  } AS organisations,
  COLLECT {
    MATCH (x:Person)
    WHERE $persons AND NOT x:Placeholder
      AND (toLower(x.name) CONTAINS $text OR toLower(x.masked_id) CONTAINS $text)
      AND x.region STARTS WITH $region
    WITH x ORDER BY x.key LIMIT $wanted
    RETURN {key: x.key, p: properties(x), person: true} AS row
  } AS persons
UNWIND organisations + persons AS row
RETURN row.key AS key, row.p AS p, row.person AS person
ORDER BY key
SKIP $offset
LIMIT $limit
