-- The leaderboard of one suite, long format (one row per arm and metric).
SELECT arm, metric, mean, std, n_seeds
FROM leaderboard
WHERE suite = $suite
ORDER BY arm, metric;
