"""Serve the training service TRAINYARD_FRAMEWORK names: `python -m trainyard_servicekit`.

The service image's command (services/Dockerfile sets TRAINYARD_FRAMEWORK from its FRAMEWORK
build argument). `TRAINYARD_FRAMEWORK=timm` serves `trainyard_timm.plugin.PLUGIN`, the plugin
`python -m trainyard_timm` serves.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

from trainyard_servicekit.main import serve
from trainyard_servicekit.plugin import FrameworkPlugin

VARIABLE = "TRAINYARD_FRAMEWORK"


class UnknownFrameworkError(LookupError):
    pass


def installed_frameworks() -> list[str]:
    """The frameworks whose package (trainyard_<name> with a plugin module) is importable here."""
    names = []
    for module in pkgutil.iter_modules():
        name = module.name.removeprefix("trainyard_")
        location = getattr(module.module_finder, "path", None)
        if (
            module.ispkg
            and module.name != name
            and module.name != __package__
            and location is not None
            and (Path(location) / module.name / "plugin.py").is_file()
        ):
            names.append(name)
    return sorted(set(names))


def load_plugin(framework: str) -> FrameworkPlugin:
    """The PLUGIN of trainyard_<framework>.plugin; UnknownFrameworkError where there is none."""
    known = ", ".join(installed_frameworks()) or "none"
    if not framework:
        raise UnknownFrameworkError(f"{VARIABLE} is not set; installed frameworks: {known}")
    package = f"trainyard_{framework}"
    if not package.isidentifier() or package == __package__:
        raise UnknownFrameworkError(f"{VARIABLE}={framework}: not a framework; installed: {known}")
    try:
        module = importlib.import_module(f"{package}.plugin")
    except ModuleNotFoundError as error:
        if error.name not in (package, f"{package}.plugin"):
            raise  # the framework is there but one of its own imports is missing
        raise UnknownFrameworkError(
            f"{VARIABLE}={framework}: {package} is not installed here; installed: {known}"
        ) from None
    plugin = getattr(module, "PLUGIN", None)
    if not isinstance(plugin, FrameworkPlugin):
        raise UnknownFrameworkError(f"{VARIABLE}={framework}: {package}.plugin has no PLUGIN")
    return plugin


def main() -> int:
    try:
        plugin = load_plugin(os.environ.get(VARIABLE, "").strip())
    except UnknownFrameworkError as error:
        print(f"trainyard_servicekit: {error}", file=sys.stderr)
        return 2
    serve(plugin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
