"""Likeness assets service."""
