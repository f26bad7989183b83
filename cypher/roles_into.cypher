// Role edges held in the organisations $nodes; with $as_of, only those whose half-open
// interval [valid_from, valid_to) contains it (dates are ISO strings, which order as dates).
MATCH (o:Subject)
WHERE o.id IN $nodes
MATCH (h:Subject)-[r:LEGAL_REPRESENTATIVE|PRINCIPAL|SENIOR_MANAGER|DIRECTOR|SUPERVISOR|SHAREHOLDER|PRACTITIONER]->(o)
WHERE $as_of IS NULL OR (r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of))
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
