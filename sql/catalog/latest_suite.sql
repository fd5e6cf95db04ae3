SELECT suite FROM arm_runs ORDER BY finished_at DESC LIMIT 1;
