"""``assay``: register datasets and ONNX model versions in an Assay registry from a terminal or a CI pipeline, sign
and deploy releases, and verify release bundles offline.

The package talks to the server over HTTP only. The registration commands use nothing but the standard library, so
that a CI machine can install the CLI without Django or any other dependency of the server; the signing commands
(signing.py) import ``assay_trust``, and with it ``cryptography`` and ``rfc8785``, only when they run.
"""

__version__ = "0.1.0"
