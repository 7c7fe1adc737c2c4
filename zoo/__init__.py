"""Model builders for tfbin: residual, VGG and DeepLab networks of binary, multi-base, sub-bit or float convolutions."""
from tfbin.zoo import models
from tfbin.zoo.models import *  # noqa: F401,F403  (the public names are models.__all__)

__all__ = list(models.__all__)
