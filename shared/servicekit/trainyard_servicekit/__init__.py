"""Every training service is this app, built from one framework plugin."""

from trainyard_servicekit.plugin import FrameworkPlugin, TaskSupport

__all__ = ["FrameworkPlugin", "TaskSupport"]
