"""Start the test provider: ``python -m tests.sso.provider.run PORT FOLDER``. Generates the RSA signing key,
migrates a fresh SQLite database in FOLDER and serves on 127.0.0.1:PORT until terminated."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def main() -> None:
    port, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "signing-key.pem").write_bytes(pem)
    os.environ.update(
        SSO_PROVIDER_PORT=port, SSO_PROVIDER_DIR=str(folder), DJANGO_SETTINGS_MODULE="tests.sso.provider.settings"
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True, skip_checks=True)


if __name__ == "__main__":
    main()
