-- A rerun of an arm replaces its numbers.
DELETE FROM arm_metrics WHERE suite = $suite AND arm = $arm AND seed = $seed;
