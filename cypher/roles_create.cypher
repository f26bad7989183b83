// Create role edges, one list of rows per relationship type (types cannot be parameters).
// Each row: {holder, org, props}; both subject nodes exist (subjects_ensure runs first).
UNWIND $legal_representative AS row
MATCH (h:Subject {id: row.holder})
MATCH (o:Subject {id: row.org})
CREATE (h)-[r:LEGAL_REPRESENTATIVE]->(o)
SET r = row.props
WITH count(*) AS legal_representative_done
UNWIND $principal AS row
MATCH (h:Subject {id: row.holder})
MATCH (o:Subject {id: row.org})
CREATE (h)-[r:PRINCIPAL]->(o)
SET r = row.props
WITH count(*) AS principal_done
UNWIND $senior_manager AS row
MATCH (h:Subject {id: row.holder})
MATCH (o:Subject {id: row.org})
CREATE (h)-[r:SENIOR_MANAGER]->(o)
SET r = row.props
WITH count(*) AS senior_manager_done
UNWIND $director AS row
MATCH (h:Subject {id: row.holder})
MATCH (o:Subject {id: row.org})
CREATE (h)-[r:DIRECTOR]->(o)
SET r = row.props
WITH count(*) AS director_done
UNWIND $supervisor AS row
MATCH (h:Subject {id: row.holder})
MATCH (o:Subject {id: row.org})
CREATE (h)-[r:SUPERVISOR]->(o)
SET r = row.props
WITH count(*) AS supervisor_done
UNWIND $shareholder AS row
MATCH (h:Subject {id: row.holder})
MATCH (o:Subject {id: row.org})
CREATE (h)-[r:SHAREHOLDER]->(o)
SET r = row.props
WITH count(*) AS shareholder_done
UNWIND $practitioner AS row
MATCH (h:Subject {id: row.holder})
MATCH (o:Subject {id: row.org})
CREATE (h)-[r:PRACTITIONER]->(o)
SET r = row.props
