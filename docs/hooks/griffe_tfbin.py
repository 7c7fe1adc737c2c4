"""Griffe extension: the API reference finds `tfbin.zoo` and `tfbin.convert` in the checkout.

setup.py installs the top-level folders `zoo/` and `convert/` as `tfbin.zoo`
and `tfbin.convert` (its `package_dir`). Griffe, which reads the source
without importing it, looks for `tfbin.zoo` in `tfbin/zoo/` and does not find
it. When it has loaded `tfbin` from a checkout, this extension loads the two
folders and attaches them to `tfbin` under those names. Where tfbin is
installed as a regular package (`tfbin/zoo/` exists), griffe finds them itself
and this extension does nothing.
"""
from pathlib import Path

import griffe

# tfbin's parts that live outside tfbin/: their name under tfbin, their folder at the top of the repository.
OUTSIDE_PARTS = {"zoo": "zoo", "convert": "convert"}


class TfbinOutsideParts(griffe.Extension):
    def on_package(self, *, pkg, loader, **kwargs):
        if pkg.name != "tfbin" or pkg.filepath is None:
            return
        root = Path(pkg.filepath).parent.parent
        for name, folder in OUTSIDE_PARTS.items():
            if name in pkg.members and pkg.members[name].is_module:
                continue
            path = root / folder
            if not (path / "__init__.py").is_file():
                continue
            # Loaded as a top-level package of its own (named after its folder), then moved under tfbin:
            # its modules' paths follow their parent, so they become tfbin.<name>.*. The modules
            # import each other by absolute tfbin.<name> paths, which resolve once they are in place.
            part = loader.load(path, try_relative_path=True)
            loader.modules_collection.del_member(part.name)
            pkg.set_member(name, part)
        # Exports and wildcard imports that name the moved parts (`from tfbin.zoo.models import *`).
        loader.expand_exports(pkg)
        loader.expand_wildcards(pkg, external=False)
