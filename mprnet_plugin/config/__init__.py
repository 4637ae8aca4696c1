"""Declared option schemas, checked before any work starts."""
