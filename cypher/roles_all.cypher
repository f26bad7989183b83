MATCH (h:Subject)-[r:LEGAL_REPRESENTATIVE|PRINCIPAL|SENIOR_MANAGER|DIRECTOR|SUPERVISOR|SHAREHOLDER|PRACTITIONER]->(o:Subject)
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
ORDER BY r.edge_id
