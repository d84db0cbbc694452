"""Training the identity adapter: data preparation, the distributed trainer, the face model inside the
loss, and evaluation (``likeness train prepare|run|eval``)."""
