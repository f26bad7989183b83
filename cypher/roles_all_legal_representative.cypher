// Every LEGAL_REPRESENTATIVE edge in edge_id order, read along its edge_id constraint's index (no sort): the
// store merges the seven role types' streams, so reading the first edge reads one per type.
MATCH (h:Subject)-[r:LEGAL_REPRESENTATIVE]->(o:Subject)
WHERE r.edge_id IS NOT NULL
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
ORDER BY r.edge_id
