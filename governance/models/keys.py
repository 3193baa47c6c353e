from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from governance.choices import KeyKind
from governance.querysets import SigningKeyQuerySet


class SigningKey(models.Model):
    """An Ed25519 public key a reviewer signs approvals with.

    ``fingerprint`` identifies the key everywhere (assay_trust.keys.fingerprint; it is the ``keyid`` of the
    DSSE signatures made with it); ``public_key`` is its PEM. A ``client`` key's private half never reaches the
    server. A ``server`` key is for signing in the web UI: ``sealed_private_key`` is the private key encrypted
    under a key derived from the reviewer's signing passphrase (governance.keywrap), opened only for one signing
    request. Revoking sets ``revoked_at`` (server time) with a reason; from then on no approval made with the key
    counts. A key is never deleted, so that old envelopes can still be checked.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signing_keys")
    name = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=16, choices=KeyKind.choices)
    fingerprint = models.CharField(max_length=80, unique=True)
    public_key = models.TextField()
    sealed_private_key = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revocation_reason = models.TextField(blank=True)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["owner_id", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=KeyKind.SERVER) & ~Q(sealed_private_key=""))
                | (Q(kind=KeyKind.CLIENT) & Q(sealed_private_key="")),
                name="signing_key_sealed_iff_server",
            ),
            models.CheckConstraint(
                condition=(Q(revoked_at__isnull=True) & Q(revocation_reason=""))
                | (Q(revoked_at__isnull=False) & ~Q(revocation_reason="")),
                name="signing_key_revocation_has_reason",
            ),
            # One web-signing key per person at a time: a new one is made after the old one is revoked.
            models.UniqueConstraint(
                fields=["owner"],
                condition=Q(kind=KeyKind.SERVER, revoked_at__isnull=True),
                name="signing_key_one_live_server_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.fingerprint[:19]}"
