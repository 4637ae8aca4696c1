"""Registered with BasicSR on import."""
