DROP TABLE worker_jobs;
