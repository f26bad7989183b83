// Delete role edges by edge_id (the caller passes distinct ids); returns how many went.
UNWIND $edge_ids AS edge_id
CALL {
  WITH edge_id
  MATCH ()-[r:LEGAL_REPRESENTATIVE {edge_id: edge_id}]->()
  RETURN r
  UNION ALL
  WITH edge_id
  MATCH ()-[r:PRINCIPAL {edge_id: edge_id}]->()
  RETURN r
  UNION ALL
  WITH edge_id
  MATCH ()-[r:SENIOR_MANAGER {edge_id: edge_id}]->()
  RETURN r
  UNION ALL
  WITH edge_id
  MATCH ()-[r:DIRECTOR {edge_id: edge_id}]->()
  RETURN r
  UNION ALL
  WITH edge_id
  MATCH ()-[r:SUPERVISOR {edge_id: edge_id}]->()
  RETURN r
  UNION ALL
  WITH edge_id
  MATCH ()-[r:SHAREHOLDER {edge_id: edge_id}]->()
  RETURN r
  UNION ALL
  WITH edge_id
  MATCH ()-[r:PRACTITIONER {edge_id: edge_id}]->()
  RETURN r
}
DELETE r
RETURN count(r) AS deleted
