// Role edges by edge_id: one branch per relationship type so each can use its edge_id index.
UNWIND $edge_ids AS edge_id
CALL {
  WITH edge_id
  MATCH (h:Subject)-[r:LEGAL_REPRESENTATIVE {edge_id: edge_id}]->(o:Subject)
  RETURN h, r, o
  UNION ALL
  WITH edge_id
  MATCH (h:Subject)-[r:PRINCIPAL {edge_id: edge_id}]->(o:Subject)
  RETURN h, r, o
  UNION ALL
  WITH edge_id
  MATCH (h:Subject)-[r:SENIOR_MANAGER {edge_id: edge_id}]->(o:Subject)
  RETURN h, r, o
  UNION ALL
  WITH edge_id
  MATCH (h:Subject)-[r:DIRECTOR {edge_id: edge_id}]->(o:Subject)
  RETURN h, r, o
  UNION ALL
  WITH edge_id
  MATCH (h:Subject)-[r:SUPERVISOR {edge_id: edge_id}]->(o:Subject)
  RETURN h, r, o
  UNION ALL
  WITH edge_id
  MATCH (h:Subject)-[r:SHAREHOLDER {edge_id: edge_id}]->(o:Subject)
  RETURN h, r, o
  UNION ALL
  WITH edge_id
  MATCH (h:Subject)-[r:PRACTITIONER {edge_id: edge_id}]->(o:Subject)
  RETURN h, r, o
}
RETURN h.id AS holder, type(r) AS role, o.id AS org, properties(r) AS props
