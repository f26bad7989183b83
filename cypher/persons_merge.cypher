// $rows: maps of Person properties (pseudonymous key, masked ID number, name, region). A
// placeholder made for this key (subjects_ensure) becomes the person and keeps no other label.
UNWIND $rows AS row
MERGE (p:Subject {id: row.key})
SET p:Person, p += row
REMOVE p:Placeholder:Organisation
