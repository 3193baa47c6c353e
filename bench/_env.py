"""What every benchmark's child process runs with: the caller's environment without its database, broker and Assay
settings (a benchmark never touches the user's own data), then a throwaway data folder and, when given, the
throwaway database the launcher created."""

from __future__ import annotations

import os


def child_env(data_dir: str, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_BROKER_URL", "ASSAY_"))}
    env.update(
        ASSAY_ENV="development",
        ASSAY_DATA_DIR=data_dir,
        CELERY_BROKER_URL="filesystem://",
        DJANGO_SETTINGS_MODULE="assay.settings",
        LOG_LEVEL="warning",
        **extra,
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env
