"""The governance pages' forms, a module per object: releases and keys (``releases``), review boards and
environments (``boards``), release policies (``policies``). They check the shape of the input and hand it to an
action in ``governance.actions``; every rule is the action's, so the API and the web agree."""

from governance.forms.releases import RELEASE_STATUS_CHOICES, CreateWebKeyForm, RevokeKeyForm, SignReleaseForm

__all__ = ["RELEASE_STATUS_CHOICES", "CreateWebKeyForm", "RevokeKeyForm", "SignReleaseForm"]
