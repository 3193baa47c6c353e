"""The retention and legal-hold demo, on top of seed_demo's people and seed_registry_demo's credit data: credit-risk's
retention policies (its confidential dataset files kept 60 days, so that the loan applications show on the
"expiring in 90 days" list; job logs 90 days after the job; retired model artifacts a year), a legal hold on the
loan-applications dataset that keeps its versions through every retention run, a second compliance officer,
since releasing a hold takes two, and a data access grant: the fraud team borrows the loan applications for a
use case of its own (requested by felix-engineer, approved by ada-admin for the owning team and carol-compliance).

Every write goes through compliance.actions as a demo user. Idempotent; refused in production, like seed_demo.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from compliance import actions
from compliance.choices import GrantSide, GrantStatus, HoldScope, HoldStatus
from compliance.models import DataAccessGrant, LegalHold, RetentionPolicy
from core import actions as core_actions
from core.choices import Role
from core.management.commands.seed_demo import ADMIN, DEMO_PASSWORD
from core.models import Membership, Team
from registry import actions as registry_actions
from registry.choices import DecisionMode, RiskTier
from registry.models import Dataset, UseCase
from registry.naming import name_keys

User = get_user_model()

TEAM = "credit-risk"
OFFICER = "carol-compliance"
SECOND_OFFICER = "olga-compliance"
DATASET = "loan-applications"
CASE = "LIT-2026-014"
BORROWER = "fraud"
BORROWER_ENGINEER = "felix-engineer"
OWNER_ADMIN = "ada-admin"
BORROWER_USE_CASE = "Application fraud screening"
GRANT_DAYS = 90
# (kind, classification, keep days, counted from, note)
POLICIES = (
    ("dataset_version_files", "confidential", 60, "created", "Applications of refused requests: 60 days (demo)."),
    ("job_logs", "internal", 90, "finished", "Job logs: three months."),
    ("model_artifacts", "confidential", 365, "retired", "Retired scorers: a year after retirement."),
)


class Command(BaseCommand):
    help = (
        "Create the retention and legal-hold demo (dev only): credit-risk's retention policies and a legal hold "
        "on the loan-applications dataset. Run seed_demo and seed_registry_demo first."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_compliance_demo refuses to run with ASSAY_ENV=production: it writes demo data.")
        team = Team.objects.filter(slug=TEAM).first()
        officer = User.objects.filter(username=OFFICER).first()
        dataset = (
            Dataset.objects.filter(team=team, name_key=name_keys(DATASET)[0]).first() if team is not None else None
        )
        if team is None or officer is None or dataset is None:
            raise CommandError("Run `manage.py seed_demo` and `manage.py seed_registry_demo` first.")
        created = self._second_officer(team)
        for kind, classification, keep_days, counted_from, note in POLICIES:
            if RetentionPolicy.objects.filter(team=team, target_kind=kind, classification=classification).exists():
                continue
            actions.do_create_retention_policy(
                team,
                actor=officer,
                target_kind=kind,
                classification=classification,
                keep_days=keep_days,
                counted_from=counted_from,
                note=note,
            )
            created += 1
        hold = LegalHold.objects.filter(team=team, case_reference=CASE).first()
        if hold is None:
            hold = actions.do_place_hold(
                team,
                actor=officer,
                scope=HoldScope.DATASET,
                dataset=dataset,
                case_reference=CASE,
                reason="Class action over refused credit-limit increases: keep every application until judgment.",
            )
            created += 1
        grant, made = self._grant(dataset, officer)
        created += made
        self.stdout.write(f"Compliance demo: {created} new object(s)." if created else "Compliance demo present.")
        self.stdout.write(f"  retention {reverse('compliance-retention')}?within=90")
        state = "in force" if hold.status != HoldStatus.RELEASED else "released"
        self.stdout.write(f"  hold      {reverse('compliance-hold', args=[hold.pk])} ({state})")
        self.stdout.write(f"  a second compliance officer, to confirm a release: {SECOND_OFFICER} / {DEMO_PASSWORD}")
        self.stdout.write(f"  grant     {reverse('compliance-grant', args=[grant.pk])} ({grant.status})")

    def _grant(self, dataset: Dataset, officer: Any) -> tuple[DataAccessGrant, int]:
        """The fraud team's approved grant to use the loan applications, requested and decided by demo users."""
        borrower = Team.objects.get(slug=BORROWER)
        existing = DataAccessGrant.objects.filter(team=borrower, dataset=dataset).first()
        if existing is not None:
            return existing, 0
        engineer = User.objects.get(username=BORROWER_ENGINEER)
        use_case = UseCase.objects.filter(team=borrower, name_key=name_keys(BORROWER_USE_CASE)[0]).first()
        if use_case is None:
            use_case = registry_actions.do_create_use_case(
                borrower,
                actor=engineer,
                name=BORROWER_USE_CASE,
                objective="Flag credit applications that look fabricated before an analyst reads them.",
                decision_mode=DecisionMode.DECISION_SUPPORT,
                risk_tier=RiskTier.HIGH,
                owner=engineer,
            )
        grant = actions.do_request_grant(
            borrower,
            actor=engineer,
            dataset=dataset,
            use_case=use_case,
            purpose="Train the application-fraud screen on past applications and their outcomes.",
            expires_at=timezone.now() + timedelta(days=GRANT_DAYS),
        )
        owner_admin = User.objects.get(username=OWNER_ADMIN)
        actions.do_decide_grant(grant, actor=owner_admin, side=GrantSide.OWNER, decision="approve")
        grant = actions.do_decide_grant(grant, actor=officer, side=GrantSide.COMPLIANCE, decision="approve")
        assert grant.status == GrantStatus.APPROVED
        return grant, 1

    def _second_officer(self, team: Team) -> int:
        if Membership.objects.filter(team=team, user__username=SECOND_OFFICER).exists():
            return 0
        admin = User.objects.get(username=ADMIN)
        user = User.objects.filter(username=SECOND_OFFICER).first() or core_actions.do_create_user(
            actor=admin,
            username=SECOND_OFFICER,
            password=DEMO_PASSWORD,
            email=f"{SECOND_OFFICER}@assay.example",
            first_name="Olga",
        )
        core_actions.do_grant_membership(team, actor=admin, user=user, role=Role.COMPLIANCE_OFFICER)
        return 1
