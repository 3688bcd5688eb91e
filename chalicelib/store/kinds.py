"""Every item kind of the table, registered: `chalicelib.<capability>.models` imported.

A Query of a whole partition (a customer's data export, the erasure, `import app`'s start-up)
meets items of every capability, and pynamodb refuses a discriminator whose class it never saw."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

import chalicelib


@lru_cache(maxsize=1)
def register_item_kinds() -> None:
    for module in pkgutil.iter_modules(chalicelib.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"chalicelib.{module.name}.models")
            except ModuleNotFoundError as error:
                if error.name != f"chalicelib.{module.name}.models":
                    raise
