"""A tcp:// engine's TLS: the files a config names, the client's TLS settings, and TLS
failures in words that name the host and the files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import docker.tls
import requests.exceptions

from greenroom.engine.address import EngineAddress, TlsMaterial
from greenroom.engine.calls import timed_out
from greenroom.errors import EngineUnreachable, GreenroomError

if TYPE_CHECKING:
    from greenroom.config.engine import EngineTls


def tls_material(tls: EngineTls, source: str) -> TlsMaterial | None:
    """The TLS files a config section gives (`engine.tls`, `hosts[].tls`), or None."""
    if not tls.given:
        return None
    return TlsMaterial(ca=tls.ca, cert=tls.cert, key=tls.key, verify=tls.verify, source=source)


def tls_config(tls: TlsMaterial) -> docker.tls.TLSConfig:
    """The client's TLS settings from the files (checked to exist first)."""
    tls.check()
    cert = (tls.cert, tls.key) if tls.cert and tls.key else None
    verify: bool | str = (tls.ca or True) if tls.verify else False
    return docker.tls.TLSConfig(client_cert=cert, ca_cert=tls.ca, verify=verify)


@contextmanager
def tls_errors(endpoint: EngineAddress) -> Iterator[None]:
    """TLS failures of a tcp:// engine, in words that name the host and the files."""
    try:
        yield
    except GreenroomError:
        raise
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError) as exc:
        if endpoint.tls is None or not endpoint.is_tcp or timed_out(exc):
            raise  # a handshake that got no answer is the bound's (engine/calls.py)
        text = str(exc)
        tls_words = ("SSL", "TLS", "certificate", "alert", "handshake", "reset by peer", "EOF")
        if not isinstance(exc, requests.exceptions.SSLError) and not any(w in text for w in tls_words):
            raise
        raise EngineUnreachable(
            f"TLS with {endpoint.address} failed: {tls_reason(text, endpoint.tls)}",
            where=endpoint.host,
            hint=f"the TLS files come from {endpoint.tls.source}; the CA must have signed the engine's "
            "certificate (whose subjectAltName names this host), and the engine (dockerd --tlsverify "
            "--tlscacert) must trust the CA of the client certificate",
        ) from exc


def tls_reason(text: str, tls: TlsMaterial) -> str:
    """What an ssl/requests error text means, in words (the raw reason in parentheses)."""
    found = re.search(r"\] ([^(]*?)(?: \(_ssl\.c:\d+\))", text)
    raw = found.group(1).strip() if found else text
    if "certificate verify failed" in text:
        if "IP address mismatch" in text or "Hostname mismatch" in text:
            return f"the engine's certificate does not name this host ({raw})"
        return f"the engine's certificate is not signed by the CA {tls.ca or '(system CAs)'} ({raw})"
    if "certificate required" in text:
        return f"the engine requires a client certificate and none was given ({raw})"
    if "unknown ca" in text or "bad certificate" in text or "certificate unknown" in text:
        return f"the engine does not accept the client certificate {tls.cert} ({raw})"
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return f"the engine does not speak TLS on this port ({raw})"
    return raw
