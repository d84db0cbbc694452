"""The generator's video model: Wan 2.2 two-expert pipelines with the identity adapter."""

#: The experts of a two-expert Wan 2.2 pipeline (its attribute names), high noise first.
EXPERTS = ("transformer", "transformer_2")
