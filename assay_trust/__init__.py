"""Signing primitives for Assay's release approvals, shared by the server and the ``assay`` command line.

Pure functions over plain JSON values and bytes: no Django, no database, no network. The server's governance app
and the CLI import the same code, so that what a reviewer signs on a laptop and what the deployment gate verifies
are built and checked by one implementation.

Modules:

- ``canonical``: RFC 8785 canonical JSON and SHA-256 digests of plain JSON values.
- ``keys``: Ed25519 public keys (PEM or OpenSSH), fingerprints, private-key files, and ``contains_private_key``,
  which finds private key material anywhere in a request.
- ``dsse``: DSSE v1 envelopes (pre-authentication encoding, signing, strict parsing, verification).
- ``statement``: the in-toto Statement v1 that an approval signs.
- ``quorum``: ``evaluate_quorum``, the rule that decides whether a set of approvals meets a policy.
- ``bundle``: the exported release bundle and its offline verification.

docs/releases.md ("Release bundles") describes the formats.
"""

from assay_trust.errors import TrustError

__all__ = ["TrustError"]
