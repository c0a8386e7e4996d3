"""Which reader handles which kind of input: the names used by the CLI and sync manifests."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .contract import CatalogueTables


@dataclass(frozen=True)
class ReaderInfo:
    """A reader: module and function (imported lazily), and what it needs."""

    name: str
    module: str
    function: str
    attaches: bool = False  # adds classifications to another release's sources
    description: str = ""

    def load(self) -> Callable[..., CatalogueTables | list[CatalogueTables]]:
        return getattr(importlib.import_module(f"clustercat.ingest.{self.module}"), self.function)

    @property
    def version(self) -> str:
        return getattr(importlib.import_module(f"clustercat.ingest.{self.module}"),
                       "READER_VERSION", "0")  # fmt: skip

    def reader(self, **options) -> Callable[[Path], CatalogueTables | list[CatalogueTables]]:
        """``path -> tables`` with the options bound (None-valued options dropped)."""
        function = self.load()
        bound = {k: v for k, v in options.items() if v is not None}
        return lambda path: function(path, **bound)


READERS: dict[str, ReaderInfo] = {
    r.name: r
    for r in (
        ReaderInfo("legus", "legus", "read_legus_tab", description="LEGUS HLSP .tab catalogues"),
        ReaderInfo("legus-csv", "legus", "read_legus_csv",
                   description="CSV twin of LEGUS catalogues (NGC 628 Catalog.csv)"),
        ReaderInfo("starcnet", "starcnet", "read_starcnet", attaches=True,
                   description="StarcNet ML predictions for an existing LEGUS release"),
        ReaderInfo("phangs", "phangs", "read_phangs_fits",
                   description="PHANGS-HST DR4 cluster catalogues (FITS)"),
        ReaderInfo("mrt", "mrt", "read_mrt", description="published machine-readable tables"),
    )
}  # fmt: skip


def reader_info(name: str) -> ReaderInfo:
    try:
        return READERS[name]
    except KeyError:
        raise ValueError(f"unknown reader {name!r}; known: {', '.join(READERS)}") from None
