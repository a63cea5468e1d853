-- 0015_auth_negotiate: devices may use auth negotiate (Kerberos, and NTLM
-- where Kerberos cannot be used, as Windows' Negotiate does; the auth
-- of a domain fleet reached with WinRM message encryption).
--
-- A column's CHECK cannot be altered in SQLite: the column is replaced
-- by one with the wider CHECK, its values copied. (DROP COLUMN is
-- allowed: no index, view or other constraint names devices.auth.)

ALTER TABLE devices ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'basic'
    CHECK (auth_method IN ('basic', 'negotiate', 'ntlm', 'kerberos'));
UPDATE devices SET auth_method = auth;
ALTER TABLE devices DROP COLUMN auth;
ALTER TABLE devices RENAME COLUMN auth_method TO auth;
