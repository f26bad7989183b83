// Take the write lock of each stripe until the transaction ends (a key such as "record:<id>" or
// "subject:<key>" hashes to one of 65,536 stripes: graph_credit.store.neo4j.store.lock_stripe): a read
// made for a later write (does the record exist, which department owns it, is the subject on a black
// list) is then not changed by another transaction before this one commits.
// MERGE under the lock_key constraint serialises creating a lock node; the SET locks an existing one.
UNWIND $keys AS key
MERGE (l:Lock {key: key})
SET l.taken = coalesce(l.taken, 0) + 1
