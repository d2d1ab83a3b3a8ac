"""Tracking: the embedded run store (SQLite + content-addressed artifacts in `.nb2pipe/`)."""

from nb2pipe.tracking.store import STORE_DIR, Store, StoreError

__all__ = ["STORE_DIR", "Store", "StoreError"]
