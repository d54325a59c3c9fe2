"""hokusai-ci: register trained models with the Hokusai platform from CI.

`ModelRegistry` is imported lazily so `hokusai --help` and read-only commands stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hokusai_ci.api import ModelRegistry

__all__ = ["ModelRegistry", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "ModelRegistry":
        from hokusai_ci.api import ModelRegistry

        return ModelRegistry
    raise AttributeError(f"module 'hokusai_ci' has no attribute {name!r}")
