"""Generators and discriminators, created by name (see ``registry``)."""

from .registry import DISCRIMINATORS, GENERATORS, NORMS, build_discriminator, build_generator

__all__ = ["build_generator", "build_discriminator", "GENERATORS", "DISCRIMINATORS", "NORMS"]
