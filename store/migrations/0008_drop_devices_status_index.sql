-- 0008_drop_devices_status_index: the index on devices (status) goes.
--
-- No query filters devices by status in SQL (the engine holds the device
-- list in memory and lists, counts and filters it there), while every
-- poll's status UPDATE rewrote the row's entry in this index: at 10,000
-- devices a poll's share of the batch writer was about 8% slower with it
-- (BenchmarkWriterPolls, 79-85 us against 75-76 us per poll).

DROP INDEX IF EXISTS devices_status;
