// $rows: maps of Organisation properties; a null value removes the property. A placeholder made
// for this key (subjects_ensure) becomes the organisation and keeps no other kind's label.
UNWIND $rows AS row
MERGE (o:Subject {id: row.code})
SET o:Organisation, o += row
REMOVE o:Placeholder:Person
