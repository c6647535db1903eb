DROP TABLE worker_job_totals;
