-- A signals column as a DOUBLE (rehydration quality; $column checked against the signals schema).
s.$column::DOUBLE
