"""What serving tells people (core.notifications; docs/notifications.md): a release you requested is deployed."""

from __future__ import annotations

from core.notifications import Kind, notify, register_kind
from governance.notifications import release_link
from serving.models import Deployment

DEPLOYED = register_kind(
    Kind(
        "serving.release_deployed",
        "Your release is deployed",
        "A release you requested was deployed (or rolled back to, or promoted) in its environment.",
    )
)


def notify_deployed(deployment: Deployment) -> None:
    """Tell the release's requester that ``deployment`` serves it now (raised in the deploy's transaction)."""
    release = deployment.release
    title = f"{release.model_version} to {release.environment.slug}"
    notify(
        DEPLOYED.name,
        recipients=[release.requested_by],
        subject=f"Release {release.pk} deployed: {title}",
        body=(
            f"{deployment.deployed_by} deployed release {release.pk} ({title}) as its {deployment.role}"
            + (f" with {deployment.traffic_percent}% of the traffic" if deployment.traffic_percent else "")
            + (" (a rollback)" if deployment.is_rollback else "")
            + "."
        ),
        link=release_link(release),
        target=release,
        team=release.model_version.model.team,
        dedupe_key=f"deployment:{deployment.pk}",
        payload={"release": str(release.uid), "deployment": deployment.pk, "role": deployment.role},
    )
