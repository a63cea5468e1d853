-- 0009_loop_off: a per-device switch for rmm's resident PowerShell loop.
--
--   * loop_off: 1 never starts the resident loop on the device: every
--     request is a powershell.exe of its own (one Command per poll), for
--     hosts whose EDR forbids a long-lived powershell.exe fed over stdin.
--     Existing devices keep the loop.
--
-- ADD COLUMN with a constant default and a CHECK needs no table rebuild.

ALTER TABLE devices ADD COLUMN loop_off INTEGER NOT NULL DEFAULT 0
    CHECK (loop_off IN (0, 1));
