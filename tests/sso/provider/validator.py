"""The test provider's claims and its test-only misbehaviour.

``groups`` comes from the user's Django groups; ``extra`` holds claims a test adds to a user's tokens (an
``is_superuser`` or ``roles`` claim, to show that Assay ignores them). ``MISBEHAVE`` makes the next ID token wrong in
one way (signed with a key the provider does not publish, for another audience, with another nonce, or expired), so
that the tests can show the relying party refusing each."""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto import jwk, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator

MISBEHAVE: dict[str, str] = {"next": ""}
EXTRA_CLAIMS: dict[str, dict[str, Any]] = {}


def _stranger_key() -> jwk.JWK:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwk.JWK.from_pem(pem)


class Validator(OAuth2Validator):
    # Every claim whatever the scopes (the groups claim has no standard scope).
    oidc_claim_scope = None

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "email": user.email,
            "preferred_username": user.username,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "groups": sorted(user.groups.values_list("name", flat=True)),
            **EXTRA_CLAIMS.get(user.username, {}),
        }

    def finalize_id_token(self, id_token: Any, token: Any, token_handler: Any, request: Any) -> str:
        mode, MISBEHAVE["next"] = MISBEHAVE["next"], ""
        if not mode:
            return str(super().finalize_id_token(id_token, token, token_handler, request))
        claims, _ = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        key = request.client.jwk_key
        header = {"typ": "JWT", "alg": "RS256", "kid": key.thumbprint()}
        if mode == "wrong_key":
            key = _stranger_key()  # the kid still names the provider's key: only the signature is wrong
        elif mode == "wrong_audience":
            id_token["aud"] = "someone-else"
        elif mode == "wrong_nonce":
            id_token["nonce"] = "not-the-one-you-sent"
        elif mode == "expired":
            id_token["iat"] = int(time.time()) - 7200
            id_token["exp"] = int(time.time()) - 3600
        signed = jwt.JWT(header=json.dumps(header), claims=json.dumps(id_token, default=str))
        signed.make_signed_token(key)
        return str(signed.serialize())
