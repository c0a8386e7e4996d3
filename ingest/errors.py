"""Errors raised by the catalogue readers.

Every validation failure of an external catalogue raises :class:`CatalogueFormatError`, which
names the file, the 1-based line (for FITS tables: the 1-based table row) and the column
(1-based index or column name) so that a user can open the file and see the problem
(DESIGN.md §6: "Bad input gets a clear error naming file, line and column").
"""

from __future__ import annotations

from pathlib import Path


class CatalogueFormatError(ValueError):
    """A catalogue file that cannot be read as the format it claims to be.

    ``str(err)`` reads like ``ngc628c.tab, line 17, column 8: expected a number, got 'abc'``;
    the line and column parts are left out when they do not apply (``None``).
    """

    def __init__(
        self,
        path: str | Path | None,
        line: int | None,
        column: int | str | None,
        message: str,
    ) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self.line: int | None = None if line is None else int(line)
        self.column: int | str | None = column
        self.message: str = message
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.path.name if self.path is not None else "<input>"]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return f"{', '.join(parts)}: {self.message}"

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[type, tuple[Path | None, int | None, int | str | None, str]]:
        # Keep the four fields when the error crosses a process boundary (Dask, multiprocessing).
        return (type(self), (self.path, self.line, self.column, self.message))
