-- 0014_alert_snooze: an unresolved alert can be snoozed for a while.
--
--   * snoozed_until: unix ms until which the alert is snoozed (0: never
--     snoozed). A snoozed alert stays unresolved and keeps its state;
--     the console does not count it in the header until then, and lists
--     it as Snoozed. Nothing is written when the time passes.
--   * snoozed_by, snooze_note: who snoozed it and why.
--
-- ADD COLUMN with constant defaults needs no table rebuild.

ALTER TABLE alerts ADD COLUMN snoozed_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN snoozed_by    TEXT    NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN snooze_note   TEXT    NOT NULL DEFAULT '';
