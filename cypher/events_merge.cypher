// Events refer to their record or list entry by cause_id only: the cause may arrive later.
UNWIND $rows AS row
MERGE (e:RecordEvent {event_id: row.event_id})
SET e += row
