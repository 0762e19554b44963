"""Template tags and filters of the dashboard."""

from __future__ import annotations
