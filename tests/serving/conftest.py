"""The gate's and serving's tests share governance's fixtures: the cast's release world (``rw``), the artifact root,
the API ``world`` and the small key-derivation settings (tests/governance/conftest.py)."""

from tests.governance.conftest import _empty_cache, _small_kdf, artifact_root, onnx_path, rw, world

__all__ = ["_empty_cache", "_small_kdf", "artifact_root", "onnx_path", "rw", "world"]
