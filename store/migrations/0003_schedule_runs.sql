-- 0003_schedule_runs: when each scheduled job last ran, so a job missed
-- while rmm was down runs once at the next start (engine.Scheduler).
CREATE TABLE schedule_runs (
    job        TEXT    PRIMARY KEY,
    last_run   INTEGER NOT NULL,           -- unix ms UTC of the run's start
    last_error TEXT    NOT NULL DEFAULT '' -- empty when the run worked
) WITHOUT ROWID;
