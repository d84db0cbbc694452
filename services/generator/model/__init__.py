"""The generator's video model: Wan 2.2 two-expert pipelines with the identity adapter."""
