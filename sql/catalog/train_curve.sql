-- The loss curve of one training run ($1), in step order.
SELECT step, tokens, loss, grad_norm, lr, epoch FROM train_curves WHERE train_hash = $1 ORDER BY step
