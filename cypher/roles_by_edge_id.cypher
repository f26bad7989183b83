// Role edges by edge_id: one branch per relationship type, so each seeks its edge_id constraint.
MATCH (h:Subject)-[r:LEGAL_REPRESENTATIVE]->(o:Subject) WHERE r.edge_id IN $edge_ids
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
UNION ALL
MATCH (h:Subject)-[r:PRINCIPAL]->(o:Subject) WHERE r.edge_id IN $edge_ids
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
UNION ALL
MATCH (h:Subject)-[r:SENIOR_MANAGER]->(o:Subject) WHERE r.edge_id IN $edge_ids
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
UNION ALL
MATCH (h:Subject)-[r:DIRECTOR]->(o:Subject) WHERE r.edge_id IN $edge_ids
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
UNION ALL
MATCH (h:Subject)-[r:SUPERVISOR]->(o:Subject) WHERE r.edge_id IN $edge_ids
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
UNION ALL
MATCH (h:Subject)-[r:SHAREHOLDER]->(o:Subject) WHERE r.edge_id IN $edge_ids
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
UNION ALL
MATCH (h:Subject)-[r:PRACTITIONER]->(o:Subject) WHERE r.edge_id IN $edge_ids
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
