from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Self

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.choices import TokenKind
from core.models.teams import Membership

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

TOKEN_PREFIX = "assay"  # noqa: S105 (a public prefix that lets secret scanners find leaked tokens)
KEY_ID_BYTES = 6  # 8 url-safe characters: the public, indexed half of a token
SECRET_BYTES = 32


def digest_secret(secret: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast keyed hash is the right tool (a slow password hash would only
    # slow every API call). The key is the server's SECRET_KEY, so a leaked table alone does not allow offline tests.
    return hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def restrict(self, user: User | AnonymousUser, action: str = "view") -> Self:
        """A user sees and revokes their own tokens, and those of the service accounts their teams' admins own."""
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        admin_teams = Membership.objects.filter(user_id=user.pk, role="admin").values("team_id")
        return self.filter(Q(user_id=user.pk) | Q(user__service_account__team_id__in=admin_teams))

    def usable(self) -> Self:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A bearer token for the REST API, stored only as a keyed digest.

    The token a client holds reads ``assay_<key_id>_<secret>``: ``key_id`` is public and indexed so that lookup
    costs one row; ``digest`` is HMAC-SHA256 of the secret. ``expires_at`` is always set; revocation is a
    timestamp, so that a revoked token stays listed with who revoked it. ``kind`` tells personal tokens from
    those of service accounts.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=TokenKind.choices, default=TokenKind.PERSONAL)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="token_expires_after_created"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}_{self.key_id}_…)"

    @staticmethod
    def new_secret() -> tuple[str, str]:
        """A fresh ``(key_id, secret)`` pair."""
        return secrets.token_urlsafe(KEY_ID_BYTES), secrets.token_urlsafe(SECRET_BYTES)

    @staticmethod
    def compose(key_id: str, secret: str) -> str:
        return f"{TOKEN_PREFIX}_{key_id}_{secret}"

    @staticmethod
    def parse(raw: str) -> tuple[str, str] | None:
        """Split a presented token into ``(key_id, secret)``; None when it is not of our form."""
        prefix, sep, rest = raw.partition("_")
        if prefix != TOKEN_PREFIX or not sep:
            return None
        # key_id is token_urlsafe(6): exactly 8 characters, which may themselves contain "_".
        key_id, secret = rest[:8], rest[9:]
        if len(key_id) != 8 or rest[8:9] != "_" or len(secret) < 32:
            return None
        return key_id, secret

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.digest, digest_secret(secret))

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
