// Make sure a subject node exists for both ends of every role edge written. A missing one becomes
// a :Placeholder, labelled by the shape of its key (the caller splits keys with
// graph_credit.ids.is_person_key); put_organisations / put_persons fill it in.
UNWIND $persons AS person_key
MERGE (s:Subject {id: person_key})
ON CREATE SET s:Person:Placeholder, s.key = person_key
WITH count(*) AS persons_done
UNWIND $organisations AS code
MERGE (s:Subject {id: code})
ON CREATE SET s:Organisation:Placeholder, s.code = code
