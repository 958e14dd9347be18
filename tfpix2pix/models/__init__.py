"""Generators and discriminators, created by name (see ``registry``)."""

from .registry import (DISCRIMINATORS, GENERATORS, NORMS, TEST_MODES, build_discriminator,
                       build_generator, generator_kwargs, stride)

__all__ = ["build_generator", "build_discriminator", "generator_kwargs", "stride", "GENERATORS",
           "DISCRIMINATORS", "NORMS", "TEST_MODES"]
