"""Report plots drawn from check details: one module per check id that carries
numbers, each registering its function with ``verify.report.figures.detail_plot``."""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
