// Row counts per kind of thing stored (placeholders are not subjects until filled in).
RETURN
  COUNT { (o:Organisation) } - COUNT { (o:Organisation:Placeholder) } AS organisations,
  COUNT { (p:Person) } - COUNT { (p:Person:Placeholder) } AS persons,
  COUNT { ()-[:LEGAL_REPRESENTATIVE]->() }
  + COUNT { ()-[:PRINCIPAL]->() }
  + COUNT { ()-[:SENIOR_MANAGER]->() }
  + COUNT { ()-[:DIRECTOR]->() }
  + COUNT { ()-[:SUPERVISOR]->() }
  + COUNT { ()-[:SHAREHOLDER]->() }
  + COUNT { ()-[:PRACTITIONER]->() }
  AS roles,
  COUNT { (x:DishonestyRecord) } AS records,
  COUNT { (e:RecordEvent) } AS events,
  COUNT { (h:Honour) } AS honours,
  COUNT { (l:ListEntry) } AS list_entries,
  COUNT { (f:DerivedFact) } AS facts
