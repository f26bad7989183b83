MATCH (j:Journal)
RETURN j.tbl AS tbl, count(j) AS n
