// Constraints and indexes, applied once by an operator (`graph-credit init-schema`), not on connect.
// One statement per block, each ending in ';'. Every subject node carries :Subject {id} (USCC or
// person key) besides :Organisation / :Person. A uniqueness constraint is also the index its key
// is looked up by, and it serialises concurrent MERGEs of one key (the second waits for the first).
CREATE CONSTRAINT subject_id IF NOT EXISTS FOR (s:Subject) REQUIRE s.id IS UNIQUE;
CREATE CONSTRAINT organisation_code IF NOT EXISTS FOR (o:Organisation) REQUIRE o.code IS UNIQUE;
CREATE CONSTRAINT person_key IF NOT EXISTS FOR (p:Person) REQUIRE p.key IS UNIQUE;
CREATE CONSTRAINT record_id IF NOT EXISTS FOR (x:DishonestyRecord) REQUIRE x.record_id IS UNIQUE;
CREATE CONSTRAINT event_id IF NOT EXISTS FOR (e:RecordEvent) REQUIRE e.event_id IS UNIQUE;
CREATE CONSTRAINT honour_id IF NOT EXISTS FOR (h:Honour) REQUIRE h.honour_id IS UNIQUE;
CREATE CONSTRAINT list_entry_id IF NOT EXISTS FOR (l:ListEntry) REQUIRE l.entry_id IS UNIQUE;
CREATE CONSTRAINT fact_id IF NOT EXISTS FOR (f:DerivedFact) REQUIRE f.fact_id IS UNIQUE;
CREATE CONSTRAINT journal_row IF NOT EXISTS FOR (j:Journal) REQUIRE (j.tbl, j.id) IS UNIQUE;
CREATE CONSTRAINT lock_key IF NOT EXISTS FOR (l:Lock) REQUIRE l.key IS UNIQUE;
CREATE INDEX journal_seq IF NOT EXISTS FOR (j:Journal) ON (j.tbl, j.seq);
CREATE INDEX record_subject IF NOT EXISTS FOR (x:DishonestyRecord) ON (x.subject);
CREATE INDEX event_cause IF NOT EXISTS FOR (e:RecordEvent) ON (e.cause_id);
CREATE INDEX honour_holder IF NOT EXISTS FOR (h:Honour) ON (h.holder);
CREATE INDEX list_entry_subject IF NOT EXISTS FOR (l:ListEntry) ON (l.subject);
CREATE INDEX fact_target IF NOT EXISTS FOR (f:DerivedFact) ON (f.target);
CREATE INDEX fact_cause IF NOT EXISTS FOR (f:DerivedFact) ON (f.cause);
CREATE CONSTRAINT legal_representative_edge_id IF NOT EXISTS FOR ()-[r:LEGAL_REPRESENTATIVE]-() REQUIRE r.edge_id IS UNIQUE;
CREATE CONSTRAINT principal_edge_id IF NOT EXISTS FOR ()-[r:PRINCIPAL]-() REQUIRE r.edge_id IS UNIQUE;
CREATE CONSTRAINT senior_manager_edge_id IF NOT EXISTS FOR ()-[r:SENIOR_MANAGER]-() REQUIRE r.edge_id IS UNIQUE;
CREATE CONSTRAINT director_edge_id IF NOT EXISTS FOR ()-[r:DIRECTOR]-() REQUIRE r.edge_id IS UNIQUE;
CREATE CONSTRAINT supervisor_edge_id IF NOT EXISTS FOR ()-[r:SUPERVISOR]-() REQUIRE r.edge_id IS UNIQUE;
CREATE CONSTRAINT shareholder_edge_id IF NOT EXISTS FOR ()-[r:SHAREHOLDER]-() REQUIRE r.edge_id IS UNIQUE;
CREATE CONSTRAINT practitioner_edge_id IF NOT EXISTS FOR ()-[r:PRACTITIONER]-() REQUIRE r.edge_id IS UNIQUE;
