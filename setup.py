import re
from pathlib import Path

from setuptools import find_packages, setup

version = re.search(
    r'__version__ = "([^"]+)"', Path("tfbin/__init__.py").read_text()
).group(1)

setup(
    name="tfbin",
    version=version,
    description=(
        "Compress binary neural networks past 1-bit training: multi-base "
        "binary convolutions, pruning to BNNs, Larq Compute Engine and OpenVINO deployment."
    ),
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    # zoo/ and convert/ live at the top of the repository but belong to the
    # tfbin namespace: a top-level package called `zoo` or `convert` would
    # collide with other distributions.
    packages=[*find_packages(include=["tfbin", "tfbin.*"]), "tfbin.zoo", "tfbin.convert"],
    package_dir={"tfbin": "tfbin", "tfbin.zoo": "zoo", "tfbin.convert": "convert"},
    # The console script's launcher declares command mode before tfbin is imported (see its docstring).
    py_modules=["_tfbin_command"],
    # The set below is the one that installs with `pip check` clean; larq
    # needs numpy<2 and TensorFlow 2.16 needs tf-keras for Keras-2 code.
    install_requires=[
        "tensorflow==2.16.2",
        "tf-keras==2.16.0",
        "larq==0.14.0",
        "larq-compute-engine==0.16.0",
        "numpy==1.26.4",
        "protobuf>=4.25,<5",
        "tensorflow-datasets==4.9.7",
        # tensorflow-metadata 1.17+ imports protobuf-5 APIs while declaring protobuf>=4.25.
        "tensorflow-metadata>=1.16,<1.17",
        "keras-tuner==1.4.8",
        "scikit-learn>=1.3,<2",
        "matplotlib>=3.7,<4",
    ],
    extras_require={
        # pytest-xdist: the suite runs in two processes (CI has two cores).
        "test": ["pytest>=7", "pytest-timeout>=2", "pytest-xdist>=3.5"],
        # The OpenVINO target for x86 CPUs (tfbin convert --target openvino) and its NNCF int8
        # baseline: about 210 MB installed that LCE-only users do not need. Pinned: OpenVINO's
        # maintainers call BinaryConvolution obsolete, so a newer release may drop it.
        "openvino": ["openvino==2026.4.1", "nncf==3.4.0"],
        # The documentation site (mkdocs.yml): `mkdocs serve`, `mkdocs build --strict`. Capped below the
        # next major versions, which the configuration is not tested with; mkdocs.yml and its griffe
        # extension use mkdocstrings-python 2 (griffe 2).
        "docs": [
            "mkdocs>=1.6,<2",
            "mkdocs-material>=9.5,<10",
            "mkdocstrings[python]>=1.0,<2",
            "mkdocstrings-python>=2.0,<3",
            "pymdown-extensions>=10.0",
        ],
    },
    entry_points={"console_scripts": ["tfbin=_tfbin_command:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
