// Reserve $n sequence numbers for a journal table. Writing the counter node locks it until the
// transaction ends, so appends to one table are serialised and ids checked after this are stable.
MERGE (c:JournalCounter {tbl: $tbl})
ON CREATE SET c.seq = 0
SET c.seq = c.seq + $n
RETURN c.seq - $n AS base
