"""A real SMTP server for nodeherd's e-mail tests: aiosmtpd (Debian's python3-aiosmtpd) on loopback.

usage: smtpd.py MODE PORT CERT KEY SPOOL USER PASSWORD
MODE: starttls (STARTTLS offered and required before AUTH/MAIL), implicit (TLS from the first byte,
AUTH LOGIN only), plain (no TLS offered at all). Every accepted message is written to SPOOL as
<n>.json with the envelope, the message, whether the session was encrypted and who authenticated.
Prints READY on stdout once it accepts connections; runs until killed.
"""
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, cert, key, spool, user, password = sys.argv[1:8]
port = int(port)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    if ok:
        session.nh_mechanism = mechanism
        session.nh_login = user
    # handled=False: aiosmtpd answers 535 itself (its default, True, answers nothing)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class Spool:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Spool.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "content": envelope.original_content.decode("utf-8", "replace"),
            # session.ssl is set by STARTTLS only; implicit TLS shows on the transport
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "login": getattr(session, "nh_login", None),
            "mechanism": getattr(session, "nh_mechanism", None),
        }
        tmp = os.path.join(spool, f".{Spool.count}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(spool, f"{Spool.count}.json"))
        return "250 OK queued"


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
common = dict(authenticator=authenticator, auth_require_tls=True)
if mode == "starttls":
    c = Controller(Spool(), hostname="127.0.0.1", port=port, tls_context=ctx,
                   require_starttls=True, **common)
elif mode == "implicit":
    # aiosmtpd counts only STARTTLS for auth_require_tls: on implicit TLS it would hide AUTH
    c = Controller(Spool(), hostname="127.0.0.1", port=port, ssl_context=ctx,
                   auth_exclude_mechanism=["PLAIN"],
                   **dict(common, auth_require_tls=False))
elif mode == "plain":
    c = Controller(Spool(), hostname="127.0.0.1", port=port, **common)
else:
    sys.exit(f"unknown mode {mode}")
c.start()
print("READY", flush=True)
while True:
    time.sleep(3600)
