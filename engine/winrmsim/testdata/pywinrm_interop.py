#!/usr/bin/python3
"""Run one command on a simulated host with Debian's python3-winrm.

An independent client for the simulator's domain hosts: pywinrm's
Protocol, Transport and message encryption (winrm/encryption.py), over
requests-ntlm for NTLM and, for Kerberos, a requests auth plugin on
python3-gssapi (MIT krb5) in place of requests-kerberos: Debian's
pykerberos 1.1.14 lacks the WinRM encryption functions pywinrm calls
(authGSSWinRMEncryptMessage), so pywinrm could only send Kerberos
messages readable. The plugin does what those functions do on Windows'
side: gss_wrap_iov with HEADER, DATA and PADDING buffers.

Prints one JSON object: the command's stdout, stderr and exit code, and
the Content-Type of every reply the host sent, so the caller can check
that the traffic really was encrypted.

Modes (--auth):
  ntlm        pywinrm transport ntlm, message_encryption always
  kerberos    pywinrm transport kerberos (the GSSAPI plugin, SPNEGO),
              message_encryption always
  kerberos-plaintext
              pywinrm transport kerberos with Debian's own requests-kerberos
              and message_encryption never: what a client that does not
              encrypt sends; the host must refuse it over HTTP.
"""

import argparse
import base64
import json
import struct
import sys

import gssapi
import gssapi.raw as graw
import requests
import winrm.transport
from winrm.protocol import Protocol

SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")


class GSSAPIAuth(requests.auth.AuthBase):
    """Negotiate (SPNEGO with Kerberos) for pywinrm, with the WinRM
    encryption functions pywinrm's Encryption class calls."""

    winrm_encryption_available = True

    def __init__(self, mutual_authentication=None, delegate=False, force_preemptive=False,
                 principal=None, hostname_override=None, sanitize_mutual_error_response=True,
                 service="HTTP", send_cbt=True):
        self.service = service or "HTTP"
        self.hostname_override = hostname_override
        self.principal = principal
        self.context = {}
        self.password = GSSAPIAuth.password

    def _context(self, host):
        if host not in self.context:
            name = gssapi.Name("%s@%s" % (self.service, self.hostname_override or host),
                               gssapi.NameType.hostbased_service)
            # A TGT from the password, put in the (in-memory) default
            # ticket cache where SPNEGO's default credentials look.
            user = gssapi.Name(self.principal, gssapi.NameType.kerberos_principal)
            acquired = graw.acquire_cred_with_password(user, self.password.encode(), usage="initiate", mechs=[KRB5]).creds
            graw.store_cred(acquired, usage="initiate", mech=KRB5, overwrite=True, set_default=True)
            creds = gssapi.Credentials(usage="initiate")
            flags = (gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.confidentiality |
                     gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.out_of_sequence_detection |
                     gssapi.RequirementFlag.replay_detection)
            self.context[host] = gssapi.SecurityContext(name=name, creds=creds, mech=SPNEGO, usage="initiate", flags=flags)
        return self.context[host]

    def __call__(self, request):
        host = requests.utils.urlparse(request.url).hostname
        ctx = self._context(host)
        if not ctx.complete and not getattr(self, "sent", False):
            token = ctx.step()
            request.headers["Authorization"] = "Negotiate " + base64.b64encode(token).decode()
            self.sent = True
            request.register_hook("response", self._mutual)
        return request

    def _mutual(self, response, **kwargs):
        host = requests.utils.urlparse(response.request.url).hostname
        ctx = self.context[host]
        if ctx.complete:
            return response
        for value in response.headers.get("WWW-Authenticate", "").split(","):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "negotiate" and token:
                ctx.step(base64.b64decode(token))
        if response.status_code == 200 and not ctx.complete:
            raise RuntimeError("the host did not complete mutual authentication")
        return response

    def wrap_winrm(self, host, message):
        ctx = self._context(host)
        iov = graw.IOV(graw.IOVBufferType.header, message, graw.IOVBufferType.padding, std_layout=False)
        graw.wrap_iov(ctx, iov, confidential=True)
        header, data, padding = iov[0].value, iov[1].value, iov[2].value or b""
        return data + padding, header

    def unwrap_winrm(self, host, message, header):
        return self._context(host).unwrap(header + message).message


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--auth", required=True, choices=["ntlm", "kerberos", "kerberos-plaintext"])
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", default="")
    ap.add_argument("--spn-host", default=None, help="the host name of the SPN (HTTP/<host>)")
    ap.add_argument("--command", default="hostname")
    ap.add_argument("--encryption", default=None, choices=["always", "auto", "never"])
    a = ap.parse_args()

    if a.auth == "kerberos":
        GSSAPIAuth.password = a.password
        winrm.transport.HTTPKerberosAuth = GSSAPIAuth
    transport = "ntlm" if a.auth == "ntlm" else "kerberos"
    encryption = a.encryption or ("never" if a.auth == "kerberos-plaintext" else "always")
    p = Protocol(endpoint=a.endpoint, transport=transport, username=a.user, password=a.password,
                 message_encryption=encryption, server_cert_validation="ignore",
                 kerberos_hostname_override=a.spn_host)

    replies = []
    real_send = requests.Session.send

    def recording_send(session, req, **kw):
        resp = real_send(session, req, **kw)
        replies.append({"status": resp.status_code, "content_type": resp.headers.get("Content-Type", ""),
                        "request_content_type": req.headers.get("Content-Type", ""), "length": len(resp.content)})
        return resp

    requests.Session.send = recording_send
    out = {"replies": replies}
    try:
        shell = p.open_shell()
        cmd = p.run_command(shell, a.command)
        stdout, stderr, code = p.get_command_output(shell, cmd)
        p.cleanup_command(shell, cmd)
        p.close_shell(shell)
        out.update(stdout=stdout.decode(errors="replace"), stderr=stderr.decode(errors="replace"), code=code)
    except Exception as e:  # the caller reads the error and the replies
        out.update(error="%s: %s" % (type(e).__name__, e), code=getattr(e, "code", None))
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
