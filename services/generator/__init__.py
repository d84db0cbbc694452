"""Likeness generator service."""
