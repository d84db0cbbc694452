"""Likeness: brand digital actors with locked identities, consent and audit."""
