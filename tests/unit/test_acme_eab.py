"""External account binding, built by the `acme` library from tls.acme.eab: the new-account
request carries a JWS of the account's public key, HMAC-signed with the CA's key for the
directory's newAccount URL (RFC 8555 7.3.4); no network here."""

from __future__ import annotations

import json
from pathlib import Path

import josepy as jose
import pytest
from acme import jws, messages
from josepy import jwa, jwk

from greenroom.config.load import load_config
from greenroom.errors import ConfigError
from greenroom.tls.acme_client import AcmeSession, _jwk, new_key_pem

HMAC_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"  # pebble's example
DIRECTORY = messages.Directory.from_json(
    {
        "newAccount": "https://ca.test/new-acct",
        "newNonce": "https://ca.test/nonce",
        "newOrder": "https://ca.test/o",
    }
)


def config(tmp_path: Path, eab: str) -> Path:
    f = tmp_path / "greenroom.yml"
    f.write_text(
        'proxy: {ports: ["80:80", "443:443"]}\napps:\n  web:\n    image: web:1\n    port: 8000\n'
        f"    hosts: [web.example.com]\n    tls: {{acme: {{email: ops@example.com, eab: {eab}}}}}\n"
    )
    return f


def test_the_new_account_request_carries_the_binding(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, f"{{kid: kid-1, hmac_key: {HMAC_KEY}}}"))
    acme = cfg.apps["web"].tls.acme  # type: ignore[union-attr]
    assert acme is not None and acme.eab is not None
    session = AcmeSession("https://ca.test/dir", None, acme.eab.kid, acme.eab.hmac_key.get_secret_value())
    key_pem = new_key_pem()
    reg = session.registration("ops@example.com", key_pem, DIRECTORY)
    assert reg.terms_of_service_agreed and reg.contact == ("mailto:ops@example.com",)
    binding = jws.JWS.from_json(reg.external_account_binding)
    protected = binding.signature.combined
    assert (protected.kid, protected.url, protected.alg) == ("kid-1", "https://ca.test/new-acct", jwa.HS256)
    assert json.loads(binding.payload) == _jwk(key_pem).public_key().to_partial_json()
    assert binding.verify(jwk.JWKOct(key=jose.b64.b64decode(HMAC_KEY)))
    assert not binding.verify(jwk.JWKOct(key=b"another key"))
    # without eab, no binding
    plain = AcmeSession("https://ca.test/dir").registration("ops@example.com", key_pem, DIRECTORY)
    assert plain.external_account_binding is None


def test_a_malformed_hmac_key_is_refused_without_printing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(config(tmp_path, "{kid: kid-1, hmac_key: 'not base64!secret'}"))
    text = str(err.value)
    assert "apps.web.tls.acme.eab.hmac_key" in text and "base64url" in text
    assert "secret" not in text.replace("hmac_key", "")
