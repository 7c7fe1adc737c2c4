"""What a package loads from its submodules on first use: public names (PEP 562), registry entries."""
import importlib

from tfbin.validation import check_one_of

__all__ = ["LazyRegistry", "lazy_exports"]


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


class LazyRegistry:
    """A package's named entries: the built-in ones, loaded from their submodules on first use, then registered ones.

    Arguments:
        package: the package whose submodules hold the built-in entries.
        builtins: {built-in name: its submodule}, in the order `names()` lists them.
        attribute: the name of the entry in its submodule.
        argument: what an error about an unknown name calls it.

    `entries` holds every entry loaded or registered so far, by name.
    """

    def __init__(self, package, builtins, attribute, argument):
        self.package, self.builtins, self.attribute, self.argument = package, dict(builtins), attribute, argument
        self.entries = {}

    def names(self):
        """The built-in names first, then the registered ones."""
        return (*self.builtins, *(name for name in self.entries if name not in self.builtins))

    def get(self, name, register):
        """The entry called `name`; a built-in one not yet loaded is loaded and passed to `register` first."""
        check_one_of(self.argument, name, self.names())
        if name not in self.entries:
            register(getattr(importlib.import_module(f"{self.package}.{self.builtins[name]}"), self.attribute))
        return self.entries[name]
