"""Reusable test helpers (stand-in servers)."""
