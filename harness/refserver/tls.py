"""Self-signed TLS material for the STARTTLS/STLS and implicit-TLS listeners.

The certificate is issued once per process by a throw-away trustme CA: issuing
is cheap, but the harness starts many servers (one per defect in its self-tests)
and all of them can share one identity. Clients are expected not to verify it
(targets default to ``tls_verify: false``, docs/target-file.md); ``ca_pem``
is there for clients that want to verify anyway.
"""

from __future__ import annotations

import functools
import ssl

import trustme

from .accounts import DOMAIN, HOSTNAME

__all__ = ["ca_pem", "server_context"]


@functools.lru_cache(maxsize=1)
def _issue() -> tuple[trustme.CA, trustme.LeafCert]:
    ca = trustme.CA(organization_name="mailharness reference server")
    leaf = ca.issue_cert(HOSTNAME, DOMAIN, "localhost", "127.0.0.1")
    return ca, leaf


@functools.lru_cache(maxsize=1)
def server_context() -> ssl.SSLContext:
    """A server-side context shared by every listener of every server in this process."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # No client certificates: RFC 3207 §4.1 lets the server ask, but a test peer
    # that demanded one would break every ordinary client.
    context.verify_mode = ssl.CERT_NONE
    _, leaf = _issue()
    leaf.configure_cert(context)
    return context


def ca_pem() -> bytes:
    """PEM of the CA that signed the server certificate."""
    ca, _ = _issue()
    return ca.cert_pem.bytes()
