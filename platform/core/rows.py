"""Model instances from hand-written SQL, for the four statements on the reply's hot path
whose ORM version cost a customer milliseconds (docs/architecture.md has each one's figure).

`Columns` gives a model's column list under an alias and turns its part of a row back into an
instance, with the same converters the ORM applies (JSON fields, for instance), so the rest
of the code sees ordinary model instances.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


class Columns(Generic[M]):
    """All of `model`'s concrete columns as `alias`."""

    def __init__(self, model: type[M], alias: str) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.sql = ", ".join(f'{alias}."{field.column}"' for field in self.fields)
        self.names = [field.attname for field in self.fields]
        self._converters: list[tuple[int, list[Callable[..., Any]], Any]] | None = None

    def __len__(self) -> int:
        return len(self.fields)

    def _converters_for_connection(self) -> list[tuple[int, list[Callable[..., Any]], Any]]:
        if self._converters is None:
            converters = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                found = connection.ops.get_db_converters(column) + field.get_db_converters(
                    connection
                )
                if found:
                    converters.append((index, found, column))
            self._converters = converters
        return self._converters

    def load(self, row: Sequence[Any], start: int = 0) -> M:
        """The instance in `row[start : start + len(self)]`."""
        values = list(row[start : start + len(self.fields)])
        for index, converters, column in self._converters_for_connection():
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(connection.alias, self.names, values)


def cache_related(instance: Model, field_name: str, related: Model) -> None:
    """Attach `related` as `instance.<field_name>`, as `select_related` would have."""
    instance._meta.get_field(field_name).set_cached_value(instance, related)  # type: ignore[union-attr]


def insert_columns(
    instance: Model, expressions: Mapping[str, str] | None = None
) -> tuple[list[str], list[str], list[Any]]:
    """What an ORM `save()` would INSERT for `instance` (defaults, `auto_now_add`): quoted
    columns, their value placeholders, and the values. The primary key is left to the
    database; `expressions` gives SQL for some columns instead (`{"seq": "c.last_seq"}`)."""
    expressions = expressions or {}
    columns: list[str] = []
    values: list[str] = []
    params: list[Any] = []
    for field in instance._meta.concrete_fields:
        if field.primary_key or field.column is None:
            continue
        columns.append(f'"{field.column}"')
        if field.column in expressions:
            values.append(expressions[field.column])
            continue
        values.append("%s")
        params.append(field.get_db_prep_save(field.pre_save(instance, add=True), connection))
    return columns, values, params


def mark_inserted(instance: Model, pk: int) -> None:
    """`instance` was INSERTed by hand as row `pk`: make it a saved instance. No signal is
    sent: side effects go through the outbox (core.outbox), recorded by the caller."""
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
