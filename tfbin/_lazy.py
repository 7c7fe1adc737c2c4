"""Packages whose public names load from their submodules on first use (PEP 562)."""
import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package, exports):
    """`__getattr__` and `__dir__` for `package`, where `exports` maps a public name to its submodule.

    `from package import name` then imports only the submodule that defines
    `name`, so a light part of a package (its constants, its argument checks)
    can be used without loading the heavy rest.
    """

    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted({*exports, *vars(importlib.import_module(package))})

    return __getattr__, __dir__
