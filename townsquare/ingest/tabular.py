"""Read CSV/TSV files whose columns the user maps to record fields on the command line.

A mapping is ``role=column`` pairs: ``user=userId,item=movieId,value=rating,timestamp=ts`` names
header columns; ``user=0,item=1`` gives 0-based positions (the only choice with ``--no-header``).
CSV files use standard quoting; tab-separated files are read without quoting (TSV has none), so
quote characters inside text stay as they are.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from townsquare.errors import InputError
from townsquare.ingest.jsonl import (
    DuplicateGuard,
    ErrorHandler,
    build,
    decoded_lines,
    open_checked,
    raise_or_report,
)
from townsquare.ingest.records import (
    EdgeKind,
    EdgeRecord,
    InteractionKind,
    InteractionRecord,
    LabelledText,
    PostRecord,
    UserRecord,
)

ColumnRef = str | int
DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_NUMBER = re.compile(r"^[+-]?\d+(\.\d*)?$")
_HANDLE_BAD = re.compile(r"[^A-Za-z0-9_.\-]")


def parse_mapping(
    spec: str | Mapping[str, ColumnRef], required: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, ColumnRef]:
    """Parse ``"user=userId,item=1"`` (or check a dict) into ``{role: column name or 0-based index}``.

    Raises InputError (field = the role) for unknown, repeated, empty or missing roles.
    """
    allowed = list(required) + list(optional)
    hint = (
        "give it as role=column pairs, e.g. "
        + ",".join(f"{r}=..." for r in required)
        + f"; roles: {', '.join(required)} (required), {', '.join(optional) or 'none'} (optional)"
    )
    pairs: list[tuple[str, str]] = []
    if isinstance(spec, str):
        for part in filter(None, (p.strip() for p in spec.split(","))):
            role, sep, column = part.partition("=")
            if not sep:
                raise InputError(f"column mapping part {part!r} has no '='; {hint}", field=role.strip())
            pairs.append((role.strip(), column.strip()))
    else:
        pairs = [(str(role), column) for role, column in spec.items()]
    mapping: dict[str, ColumnRef] = {}
    for role, column in pairs:
        if role not in allowed:
            raise InputError(f"unknown column role {role!r}; {hint}", field=role)
        if role in mapping:
            raise InputError(f"column role {role!r} is given twice; {hint}", field=role)
        if isinstance(column, str) and not column:
            raise InputError(f"column role {role!r} has no column; {hint}", field=role)
        mapping[role] = int(column) if isinstance(column, str) and column.isascii() and column.isdigit() else column
    missing = [r for r in required if r not in mapping]
    if missing:
        raise InputError(f"column mapping lacks {', '.join(missing)}; {hint}", field=missing[0])
    return mapping


def delimiter_for(path: str | os.PathLike[str], delimiter: str | None = None) -> str:
    """The delimiter given (``tab``/``\\t`` accepted), else the one the extension implies."""
    if delimiter is not None:
        delimiter = {"tab": "\t", "\\t": "\t", "comma": ","}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise InputError(f"delimiter must be one character, got {delimiter!r}", field="delimiter")
        return delimiter
    suffix = Path(path).suffix.lower()
    if suffix not in DELIMITERS:
        raise InputError(
            f"cannot tell the delimiter from the extension {suffix or '(none)'!r}; name the file "
            ".csv or .tsv, or give the delimiter (e.g. --delimiter tab)",
            source=str(path),
        )
    return DELIMITERS[suffix]


def parse_timestamp(text: str) -> datetime:
    """Unix seconds (``1700000000``, ``1700000000.5``) or ISO 8601; naive times are taken as UTC."""
    text = text.strip()
    hint = "use unix seconds (e.g. 1700000000) or ISO 8601 (e.g. 2024-01-31T12:00:00Z)"
    if _NUMBER.match(text):
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{text!r} is out of range for unix seconds (milliseconds?); {hint}") from None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a timestamp; {hint}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def handle_for(external_id: str) -> str:
    """A valid handle made from an external id (characters outside ``A-Za-z0-9_.-`` become ``_``)."""
    return _HANDLE_BAD.sub("_", external_id)[:64] or "_"


@dataclass(frozen=True)
class TableRow:
    """One data row: its 1-based first line, the cell of each mapped role, and each role's column name."""

    line: int
    cells: dict[str, str]
    labels: dict[str, str]


@dataclass(frozen=True)
class _Columns:
    index: dict[str, int]  # role -> position
    label: dict[str, str]  # role -> what to call it in errors
    width: int | None  # expected cells per row (None: learn from the first row)


def _resolve(mapping: Mapping[str, ColumnRef], header: list[str] | None, source: str) -> _Columns:
    index: dict[str, int] = {}
    label: dict[str, str] = {}
    for role, column in mapping.items():
        if isinstance(column, int):
            if header is not None and column >= len(header):
                raise InputError(
                    f"column {column} (for {role}) is past the last column; the header has "
                    f"{len(header)} columns (positions are 0-based)",
                    source=source,
                    line=1,
                    field=role,
                )
            index[role], label[role] = column, header[column] if header else f"column {column}"
        elif header is None:
            raise InputError(
                f"column names need a header row; without one give 0-based positions such as {role}=0",
                source=source,
                field=role,
            )
        elif column not in header:
            raise InputError(
                f"column {column!r} (for {role}) is not in the header; the header has: {', '.join(header)}",
                source=source,
                line=1,
                field=column,
            )
        else:
            index[role], label[role] = header.index(column), column
    return _Columns(index, label, len(header) if header is not None else None)


def _csv_rows(
    path: str | os.PathLike[str], delimiter: str, on_error: ErrorHandler | None
) -> Iterator[tuple[int, list[str]]]:
    """``(first line, cells)`` for each non-blank row; csv errors are reported with their line."""
    lines = (text for _, text in decoded_lines(path, on_error))
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise_or_report(InputError(f"malformed row: {exc}", source=str(path), line=start), on_error)
            continue
        if row and any(cell.strip() for cell in row):
            yield start, row


def table_rows(
    path: str | os.PathLike[str],
    mapping: Mapping[str, ColumnRef],
    *,
    delimiter: str | None = None,
    header: bool = True,
    on_error: ErrorHandler | None = None,
) -> Iterator[TableRow]:
    """Rows of a CSV/TSV as ``TableRow`` (role -> cell), checking every row has the header's width.

    A header that lacks a mapped column is always raised (it is not a bad row but a bad mapping).
    """
    source = str(open_checked(path))
    rows = _csv_rows(path, delimiter_for(path, delimiter), on_error)
    columns = _resolve(mapping, None, source) if not header else None
    if header:
        first = next(rows, None)
        if first is None:
            raise InputError("the file is empty; expected a header row", source=source, line=1)
        columns = _resolve(mapping, [cell.strip() for cell in first[1]], source)
    assert columns is not None
    width = columns.width
    for line, row in rows:
        width = len(row) if width is None else width
        try:
            if len(row) != width:
                what = "the header" if header else "the first row"
                raise InputError(
                    f"has {len(row)} columns but {what} has {width}; every row needs the same "
                    "columns (check for a stray delimiter or a missing cell)",
                    source=source,
                    line=line,
                )
            if max(columns.index.values()) >= len(row):
                raise InputError(
                    f"has {len(row)} columns; the mapping asks for column {max(columns.index.values())}",
                    source=source,
                    line=line,
                )
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        yield TableRow(line, {role: row[i] for role, i in columns.index.items()}, columns.label)


def _optional(row: TableRow, role: str, source: str) -> Any:
    """The converted value/timestamp cell, or None when the role is unmapped or the cell is empty."""
    text = row.cells.get(role, "").strip()
    if not text:
        return None
    try:
        return parse_timestamp(text) if role == "timestamp" else float(text)
    except ValueError as exc:
        message = str(exc) if role == "timestamp" else f"{text!r} is not a number"
        raise InputError(message, source=source, line=row.line, field=row.labels[role]) from None


def _build(model: Any, row: TableRow, data: dict[str, Any], source: str, renames: Mapping[str, str]) -> Any:
    """Validate a record from a row, adding its timestamp; errors name the user's column."""
    if (at := _optional(row, "timestamp", source)) is not None:
        data["created_at"] = at
    fields = {field: row.labels.get(role, role) for field, role in renames.items()}
    fields.setdefault("created_at", row.labels.get("timestamp", "timestamp"))
    return build(model, data, source=source, line=row.line, fields=fields)


def _enum(enum: Any, value: Any, field: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise InputError(
            f"unknown {field} {value!r}; valid: {', '.join(m.value for m in enum)}", field=field
        ) from None


def _new_user(external_id: str, seen: set[str], row: TableRow, role: str, source: str) -> UserRecord | None:
    if external_id in seen:
        return None
    label = row.labels[role]
    user = build(
        UserRecord,
        {"id": external_id, "handle": handle_for(external_id)},
        source=source,
        line=row.line,
        fields={"id": label, "handle": label},
    )
    seen.add(external_id)
    return user


def _at(record: Any, source: str, line: int | None, located: bool) -> Any:
    """The record, or with ``located`` the record and its place, for the loader's errors."""
    from townsquare.ingest.loader import Located

    return Located(record, source, line) if located else record


def read_interactions_table(
    path: str | os.PathLike[str],
    mapping: str | Mapping[str, ColumnRef],
    *,
    kind: InteractionKind | str = InteractionKind.rating,
    on_error: ErrorHandler | None = None,
    delimiter: str | None = None,
    header: bool = True,
    with_users: bool = False,
    located: bool = False,
) -> Iterator[UserRecord | InteractionRecord]:
    """InteractionRecords from a table with columns user, item[, value][, timestamp].

    An empty value cell means no value; an empty timestamp means the epoch. ``with_users`` also
    yields a UserRecord (handle made from the id) before each user's first interaction.
    """
    cols = parse_mapping(mapping, ("user", "item"), ("value", "timestamp"))
    rows = table_rows(path, cols, delimiter=delimiter, header=header, on_error=on_error)
    return _interactions(rows, str(path), _enum(InteractionKind, kind, "kind"), on_error, with_users, located)


def _interactions(
    rows: Iterator[TableRow],
    source: str,
    kind: InteractionKind,
    on_error: ErrorHandler | None,
    with_users: bool,
    located: bool = False,
) -> Iterator[UserRecord | InteractionRecord]:
    users: set[str] = set()
    for row in rows:
        try:
            data: dict[str, Any] = {
                "user": row.cells["user"].strip(),
                "post": row.cells["item"].strip(),
                "kind": kind,
            }
            if (value := _optional(row, "value", source)) is not None:
                data["value"] = value
            record = _build(
                InteractionRecord, row, data, source, {"user": "user", "post": "item", "value": "value"}
            )
            user = _new_user(record.user, users, row, "user", source) if with_users else None
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        if user is not None:
            yield _at(user, source, row.line, located)
        yield _at(record, source, row.line, located)


def read_edges_table(
    path: str | os.PathLike[str],
    mapping: str | Mapping[str, ColumnRef],
    *,
    kind: EdgeKind | str = EdgeKind.follow,
    on_error: ErrorHandler | None = None,
    delimiter: str | None = None,
    header: bool = True,
    with_users: bool = False,
    located: bool = False,
) -> Iterator[UserRecord | EdgeRecord]:
    """EdgeRecords (follow, block or mute) from a table with columns source, target[, timestamp].

    A repeated (source, target) pair is an error naming both lines. ``with_users`` as for interactions.
    """
    cols = parse_mapping(mapping, ("source", "target"), ("timestamp",))
    rows = table_rows(path, cols, delimiter=delimiter, header=header, on_error=on_error)
    return _edges(rows, str(path), _enum(EdgeKind, kind, "kind"), on_error, with_users, located)


def _edges(
    rows: Iterator[TableRow], source: str, kind: EdgeKind, on_error: ErrorHandler | None, with_users: bool,
    located: bool = False,
) -> Iterator[UserRecord | EdgeRecord]:
    seen, users = DuplicateGuard(source), set[str]()
    for row in rows:
        try:
            data = {
                "type": kind.value,
                "source": row.cells["source"].strip(),
                "target": row.cells["target"].strip(),
            }
            record = _build(EdgeRecord, row, data, source, {"source": "source", "target": "target"})
            seen.check(
                (record.source, record.target),
                row.line,
                f"{kind.value} {record.source!r} -> {record.target!r}",
                row.labels["target"],
            )
            new = [
                user
                for ext, role in ((record.source, "source"), (record.target, "target"))
                if with_users and (user := _new_user(ext, users, row, role, source)) is not None
            ]
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        for user in new:
            yield _at(user, source, row.line, located)
        yield _at(record, source, row.line, located)


def read_items_table(
    path: str | os.PathLike[str],
    mapping: str | Mapping[str, ColumnRef],
    *,
    author: str = "catalog",
    located: bool = False,
    on_error: ErrorHandler | None = None,
    delimiter: str | None = None,
    header: bool = True,
) -> Iterator[UserRecord | PostRecord]:
    """A UserRecord for ``author`` (e.g. a synthetic "catalog" user), then one PostRecord per row.

    Columns: id, text[, timestamp]. A repeated id is an error naming both lines.
    """
    cols = parse_mapping(mapping, ("id", "text"), ("timestamp",))
    catalog = build(
        UserRecord,
        {"id": author, "handle": author, "display_name": author},
        source=None,
        line=None,
        fields={"id": "author", "handle": "author", "display_name": "author"},
    )
    rows = table_rows(path, cols, delimiter=delimiter, header=header, on_error=on_error)
    return _items(rows, str(path), catalog, on_error, located)


def _items(
    rows: Iterator[TableRow], source: str, catalog: UserRecord, on_error: ErrorHandler | None,
    located: bool = False,
) -> Iterator[UserRecord | PostRecord]:
    seen = DuplicateGuard(source)
    yield _at(catalog, source, None, located)
    for row in rows:
        try:
            data = {"id": row.cells["id"].strip(), "author": catalog.id, "text": row.cells["text"].strip()}
            record = _build(PostRecord, row, data, source, {"id": "id", "text": "text"})
            seen.check(record.id, row.line, f"item id {record.id!r}", row.labels["id"])
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        yield _at(record, source, row.line, located)


def read_labelled_table(
    path: str | os.PathLike[str],
    text_column: ColumnRef,
    label_column: ColumnRef,
    *,
    on_error: ErrorHandler | None = None,
    delimiter: str | None = None,
    header: bool = True,
    located: bool = False,
) -> Iterator[LabelledText]:
    """LabelledText from two columns of a table (names, or 0-based positions); other columns are ignored.
    With ``located``, each as ``Located(record, source, line)``."""
    cols = parse_mapping({"text": text_column, "label": label_column}, ("text", "label"))
    rows = table_rows(path, cols, delimiter=delimiter, header=header, on_error=on_error)
    return _labelled(rows, str(path), on_error, located)


def _labelled(rows: Iterator[TableRow], source: str, on_error: ErrorHandler | None,
              located: bool = False) -> Iterator[LabelledText]:
    for row in rows:
        try:
            data = {"text": row.cells["text"].strip(), "label": row.cells["label"].strip()}
            if not data["label"]:
                raise InputError(
                    "is empty; every row needs a label",
                    source=source,
                    line=row.line,
                    field=row.labels["label"],
                )
            record = _build(LabelledText, row, data, source, {"text": "text", "label": "label"})
        except InputError as error:
            raise_or_report(error, on_error)
            continue
        yield _at(record, source, row.line, located)
