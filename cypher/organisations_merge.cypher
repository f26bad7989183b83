// $rows: maps of Organisation properties; a null value removes the property.
UNWIND $rows AS row
MERGE (o:Subject {id: row.code})
SET o:Organisation, o += row
REMOVE o:Placeholder
