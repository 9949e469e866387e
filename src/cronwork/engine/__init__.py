"""The engine behind both scheduler faces, one module per concern (see docs/architecture.md)."""

from __future__ import annotations

from cronwork.engine.core import Engine
from cronwork.engine.settings import Settings, make_node_id

__all__ = ["Engine", "Settings", "make_node_id"]
