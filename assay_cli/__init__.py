"""``assay``: register datasets and ONNX model versions in an Assay registry from a terminal or a CI pipeline.

The package talks to the server over HTTP only and uses nothing but the standard library, so that a CI machine can
install it without Django or any other dependency of the server.
"""

__version__ = "0.1.0"
