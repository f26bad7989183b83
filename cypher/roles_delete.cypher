// Delete role edges by edge_id, one branch per relationship type (each seeks its edge_id
// constraint); the store adds up the branches' counts.
MATCH ()-[r:LEGAL_REPRESENTATIVE]->() WHERE r.edge_id IN $edge_ids
DELETE r
RETURN count(*) AS deleted
UNION ALL
MATCH ()-[r:PRINCIPAL]->() WHERE r.edge_id IN $edge_ids
DELETE r
RETURN count(*) AS deleted
UNION ALL
MATCH ()-[r:SENIOR_MANAGER]->() WHERE r.edge_id IN $edge_ids
DELETE r
RETURN count(*) AS deleted
UNION ALL
MATCH ()-[r:DIRECTOR]->() WHERE r.edge_id IN $edge_ids
DELETE r
RETURN count(*) AS deleted
UNION ALL
MATCH ()-[r:SUPERVISOR]->() WHERE r.edge_id IN $edge_ids
DELETE r
RETURN count(*) AS deleted
UNION ALL
MATCH ()-[r:SHAREHOLDER]->() WHERE r.edge_id IN $edge_ids
DELETE r
RETURN count(*) AS deleted
UNION ALL
MATCH ()-[r:PRACTITIONER]->() WHERE r.edge_id IN $edge_ids
DELETE r
RETURN count(*) AS deleted
