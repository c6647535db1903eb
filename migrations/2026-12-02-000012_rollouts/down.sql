ALTER TABLE pushes DROP COLUMN wave;
DROP TABLE installation_reports;
DROP TABLE rollout_cohorts;
DROP TABLE rollout_buckets;
DROP TABLE rollout_waves;
DROP TABLE rollouts;
