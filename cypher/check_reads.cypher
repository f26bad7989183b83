// Everything an approval check reads about $subjects, in one statement (Neo4jStore.check_reads):
// each subject's node, its records and their events, its related parties to depth $depth (1 or 2)
// as of $as_of, the facts of every node reached, and the records behind the subject's own facts (a
// check says when a measure's end rests on an assumed punishment period). The role edges of the subject and of each node
// one hop away come in the order risk.neighbourhood follows them (the legal representative first,
// then by edge_id), cut at $cap on the server, with how many there were (the rest is truncated).
UNWIND $subjects AS sid
OPTIONAL MATCH (s:Subject {id: sid})
WITH sid, s,
  COLLECT {
    MATCH (s)-[r:LEGAL_REPRESENTATIVE|PRINCIPAL|SENIOR_MANAGER|DIRECTOR|SUPERVISOR|SHAREHOLDER|PRACTITIONER]-(:Subject)
    WHERE r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of)
    WITH r ORDER BY CASE WHEN type(r) = $lead_role THEN 0 ELSE 1 END, r.edge_id LIMIT $cap
    RETURN {holder: startNode(r).id, role: type(r), org: endNode(r).id, props: properties(r)} AS edge
  } AS near_edges,
  COUNT {
    MATCH (s)-[r:LEGAL_REPRESENTATIVE|PRINCIPAL|SENIOR_MANAGER|DIRECTOR|SUPERVISOR|SHAREHOLDER|PRACTITIONER]-(:Subject)
    WHERE r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of)
  } AS near_total
WITH sid, s, near_edges, near_total,
  [m IN near_edges | CASE WHEN m.holder = sid THEN m.org ELSE m.holder END] AS near
WITH sid, s, near_edges, near_total, near,
  COLLECT {
    UNWIND near AS nid
    WITH DISTINCT nid
    WHERE $depth > 1
    MATCH (n:Subject {id: nid})
    RETURN {
      node: nid,
      edges: COLLECT {
        MATCH (n)-[r:LEGAL_REPRESENTATIVE|PRINCIPAL|SENIOR_MANAGER|DIRECTOR|SUPERVISOR|SHAREHOLDER|PRACTITIONER]-(:Subject)
        WHERE r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of)
        WITH r ORDER BY CASE WHEN type(r) = $lead_role THEN 0 ELSE 1 END, r.edge_id LIMIT $cap
        RETURN {holder: startNode(r).id, role: type(r), org: endNode(r).id, props: properties(r)} AS edge
      },
      total: COUNT {
        MATCH (n)-[r:LEGAL_REPRESENTATIVE|PRINCIPAL|SENIOR_MANAGER|DIRECTOR|SUPERVISOR|SHAREHOLDER|PRACTITIONER]-(:Subject)
        WHERE r.valid_from <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of)
      }
    } AS hop
  } AS far
WITH sid, s, near_edges, near_total, far,
  reduce(ids = [sid] + near, hop IN far | ids + [m IN hop.edges | m.holder] + [m IN hop.edges | m.org]) AS reached
RETURN sid AS subject,
  CASE WHEN s IS NULL OR s:Placeholder THEN NULL ELSE properties(s) END AS node,
  s:Organisation AS organisation,
  near_edges, near_total, far,
  COLLECT { MATCH (f:DerivedFact) WHERE f.target IN reached RETURN properties(f) AS p } AS facts,
  COLLECT { MATCH (x:DishonestyRecord) WHERE x.subject = sid RETURN properties(x) AS p } AS records,
  COLLECT {
    MATCH (f:DerivedFact) WHERE f.target = sid AND f.cause STARTS WITH $record_prefix
    WITH DISTINCT substring(f.cause, size($record_prefix)) AS rid
    MATCH (x:DishonestyRecord) WHERE x.record_id = rid
    RETURN properties(x) AS p
  } AS cause_records,
  COLLECT {
    MATCH (x:DishonestyRecord) WHERE x.subject = sid
    MATCH (e:RecordEvent) WHERE e.cause_id = x.record_id
    RETURN properties(e) AS p
  } AS events
