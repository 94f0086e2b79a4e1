"""The ACME adapter: certbot's protocol library (`acme`, with josepy) does the protocol and
the signing; this module only drives one issuance and translates its failures into
CertificateError with the CA's problem document, the name that failed and a hint.

One order per call, no retries: a failure is reported, never retried against the CA (its
rate limits stay untouched by greenroom).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

from greenroom.errors import CertificateError

USER_AGENT = "greenroom"
FINALIZE_SECONDS = 90


def new_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Account:
    """An ACME account: its key (PEM, never printed) and where the CA keeps it."""

    directory: str
    email: str
    uri: str
    key_pem: bytes

    def to_json(self) -> bytes:
        doc = {"directory": self.directory, "email": self.email, "uri": self.uri}
        return json.dumps({**doc, "key": self.key_pem.decode()}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Account:
        doc = json.loads(data)
        return cls(doc["directory"], doc["email"], doc["uri"], doc["key"].encode())

    def __repr__(self) -> str:
        return f"Account({self.directory!r}, {self.email!r}, {self.uri!r})"


class _Network(client.ClientNetwork):
    """The library's client network, trusting a private CA's bundle when one is given
    (`verify_ssl` goes to requests as its `verify`, which takes a bundle's path)."""

    def __init__(self, key: JWK, bundle: str | None) -> None:
        super().__init__(key, alg=ES256, user_agent=USER_AGENT, timeout=30)
        if bundle:
            self.verify_ssl = bundle  # type: ignore[assignment]


def _jwk(key_pem: bytes) -> JWK:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return JWKEC(key=key)


def _problem(err: messages.Error | None) -> str:
    if err is None:
        return "no problem document"
    return f"{err.typ}: {err.detail}" if err.detail else str(err.typ)


@dataclass
class AcmeSession:
    directory_url: str
    ca_bundle: str | None = None
    eab_kid: str | None = None
    eab_hmac_key: str | None = None

    def _where(self, names: Sequence[str] = ()) -> str:
        return f"{self.directory_url}" + (f" ({', '.join(names)})" if names else "")

    def _client(self, key_pem: bytes, uri: str | None = None) -> client.ClientV2:
        net = _Network(_jwk(key_pem), self.ca_bundle)
        if uri:
            net.account = messages.RegistrationResource(body=messages.Registration(), uri=uri)
        try:
            directory = client.ClientV2.get_directory(self.directory_url, net)
        except requests.exceptions.RequestException as exc:
            raise CertificateError(
                f"cannot reach the ACME CA: {exc}",
                where=self._where(),
                hint="check tls.acme.directory and that this machine reaches it (tls.acme.ca_bundle for "
                "a private CA); nothing was changed, the installed certificate keeps serving",
            ) from exc
        return client.ClientV2(directory, net)

    def registration(
        self, email: str, key_pem: bytes, directory: messages.Directory
    ) -> messages.NewRegistration:
        """The new-account request: with the external account binding (a JWS of the account
        key, HMAC-signed with the CA's key, for the directory's newAccount URL) when set."""
        eab = None
        if self.eab_kid and self.eab_hmac_key:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=_jwk(key_pem).public_key(),
                kid=self.eab_kid,
                hmac_key=self.eab_hmac_key,
                directory=directory,
            )
        return messages.NewRegistration.from_data(
            email=email, terms_of_service_agreed=True, external_account_binding=eab
        )

    def register(self, email: str) -> Account:
        key_pem = new_key_pem()
        acme = self._client(key_pem)
        reg = self.registration(email, key_pem, acme.directory)
        try:
            regr = acme.new_account(reg)
        except errors.ConflictError as exc:  # the key is already registered: its account
            return Account(self.directory_url, email, exc.location, key_pem)
        except messages.Error as exc:
            raise CertificateError(
                f"the CA refused to create an account: {_problem(exc)}",
                where=self._where(),
                hint="check tls.acme.email (and tls.acme.eab if the CA needs one)",
            ) from exc
        return Account(self.directory_url, email, regr.uri, key_pem)

    def issue(
        self,
        account: Account,
        names: Sequence[str],
        publish: Callable[[str, str], None],
        withdraw: Callable[[str], None],
    ) -> tuple[bytes, bytes]:
        """A new key and the certificate chain the CA issues for `names`, answering HTTP-01:
        `publish(token, key_authorization)` must make every proxy serve it before it
        returns; `withdraw(token)` afterwards, whatever happened."""
        acme = self._client(account.key_pem, account.uri)
        key_pem = new_key_pem()
        published: list[str] = []
        try:
            order = acme.new_order(crypto_util.make_csr(key_pem, list(names)))
            answers = []
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue  # the CA reuses a recent validation of this name
                found = [c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)]
                if not found:
                    raise CertificateError(
                        f"the CA offers no HTTP-01 challenge for {authz.body.identifier.value}",
                        where=self._where(names),
                        hint="use certificate files for this name",
                    )
                chall = found[0]
                response, validation = chall.response_and_validation(_jwk(account.key_pem))
                token = chall.chall.encode("token")
                publish(token, validation)
                published.append(token)
                answers.append((chall, response))
            for chall, response in answers:
                acme.answer_challenge(chall, response)
            deadline = datetime.now(UTC) + timedelta(seconds=FINALIZE_SECONDS)
            done = acme.poll_and_finalize(order, deadline=deadline.replace(tzinfo=None))
        except errors.ValidationError as exc:
            raise CertificateError(
                f"the CA could not validate {_failed(exc)}",
                where=self._where(names),
                hint="the CA fetches http://NAME/.well-known/acme-challenge/TOKEN on port 80: NAME must "
                "resolve to the host (or its load balancer) and port 80 must reach the proxy; nothing was "
                "installed, the current certificate keeps serving",
            ) from exc
        except messages.Error as exc:
            raise CertificateError(
                f"the CA refused: {_problem(exc)}",
                where=self._where(names),
                hint="nothing was installed, the current certificate keeps serving; greenroom does not "
                "retry (CA rate limits): fix the cause, then `greenroom certs renew`",
            ) from exc
        except (errors.TimeoutError, errors.Error, requests.exceptions.RequestException) as exc:
            raise CertificateError(
                f"the ACME order did not complete: {exc}",
                where=self._where(names),
                hint="nothing was installed, the current certificate keeps serving; run "
                "`greenroom certs renew` again later",
            ) from exc
        finally:
            for token in published:
                withdraw(token)
        return key_pem, done.fullchain_pem.encode()


def _failed(exc: errors.ValidationError) -> str:
    said = []
    for authzr in exc.failed_authzrs:
        name = authzr.body.identifier.value
        problems = [_problem(c.error) for c in authzr.body.challenges if c.error is not None]
        said.append(f"{name}: {'; '.join(problems) or authzr.body.status}")
    return ", ".join(said) or "the order"
