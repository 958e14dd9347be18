"""Generators and discriminators, created by name (see ``registry``).

Importing this package does not import TensorFlow; ``discriminator_features``
(from ``multiscale``) is loaded on first use.
"""

from .registry import (DISCRIMINATORS, GENERATORS, NORMS, OPTIONS, TEST_MODES, Architecture,
                       build_discriminator, build_generator, discriminator_kwargs,
                       generator_kwargs, patch_map_size, stride)

__all__ = ["build_generator", "build_discriminator", "discriminator_features",
           "generator_kwargs", "discriminator_kwargs", "stride", "patch_map_size",
           "Architecture", "GENERATORS", "DISCRIMINATORS", "NORMS", "TEST_MODES", "OPTIONS"]


def __getattr__(name):
    if name == "discriminator_features":
        from .multiscale import discriminator_features
        return discriminator_features
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
