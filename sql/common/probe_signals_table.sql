-- The empty signals table a raw recipe predicate is bound against (from the registered _schema).
CREATE TABLE signals AS SELECT * FROM _schema
