// Role edges held by the holders $nodes (persons or organisations), optionally as of a date.
MATCH (h:Subject)
WHERE h.id IN $nodes
MATCH (h)-[r:LEGAL_REPRESENTATIVE|PRINCIPAL|SENIOR_MANAGER|DIRECTOR|SUPERVISOR|SHAREHOLDER|PRACTITIONER]->(o:Subject)
WHERE $as_of IS NULL OR (r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of))
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
