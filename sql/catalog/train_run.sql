-- One training run by its train hash ($1).
SELECT * FROM train_runs WHERE train_hash = $1
