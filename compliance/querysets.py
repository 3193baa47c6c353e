"""Who may do what with compliance records, as SQL filters (see core.querysets).

Everyone in a team reads its retention policies, holds and tombstones (an auditor must); only its compliance
officers write them (and platform superusers, whom ``restrict`` lets through everywhere).
"""

from __future__ import annotations

from core.choices import Role
from core.querysets import ALL_ROLES, CHANGE, VIEW

OFFICER_ROLES: tuple[str, ...] = (Role.COMPLIANCE_OFFICER,)

COMPLIANCE_POLICY: dict[str, tuple[str, ...]] = {VIEW: ALL_ROLES, CHANGE: OFFICER_ROLES}
