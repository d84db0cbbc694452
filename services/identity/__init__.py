"""Likeness identity service."""
