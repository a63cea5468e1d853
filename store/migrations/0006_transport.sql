-- 0006_transport: per-device WinRM transport security (engine/transport.go).
--
--   * auth: how rmm authenticates to the device: basic, ntlm or kerberos.
--     Existing devices keep Basic, which they used before.
--   * ca_bundle: a PEM file of the CAs trusted for this device's HTTPS
--     certificate; '' means the global winrm.ca_bundle, else the system's
--     trust store. A path, never a secret.
--   * insecure_skip_verify: 1 skips TLS certificate verification for this
--     device (logged and audited when used). Never a global setting.
--   * allow_unencrypted: 1 lets Basic (or Kerberos) go over plain HTTP,
--     where the password or the messages cross the network readable.
--     Existing http devices are NOT marked: they are refused until an
--     admin marks them explicitly (re-import with AllowUnencrypted=true).
--
-- ADD COLUMN with a constant default and a CHECK needs no table rebuild.

ALTER TABLE devices ADD COLUMN auth TEXT NOT NULL DEFAULT 'basic'
    CHECK (auth IN ('basic', 'ntlm', 'kerberos'));
ALTER TABLE devices ADD COLUMN ca_bundle TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN insecure_skip_verify INTEGER NOT NULL DEFAULT 0
    CHECK (insecure_skip_verify IN (0, 1));
ALTER TABLE devices ADD COLUMN allow_unencrypted INTEGER NOT NULL DEFAULT 0
    CHECK (allow_unencrypted IN (0, 1));
