"""Request and response building blocks shared by the resource modules."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=400)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Metres = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]

LARGEST_ID = 2**31 - 1
"""The largest row id every backend holds: the id columns are INTEGER, 32 bits on PostgreSQL
(asyncpg refuses a larger parameter) and 64 on SQLite (past 64 bits its driver raises
OverflowError). A larger number names no row; before this bound it was a 500."""

# annotated_types' bounds, not pydantic's Field: FastAPI keeps them for path and query
# parameters too (a Field inside Path()/Query() would be taken for the parameter's own).
Id = Annotated[int, Ge(1), Le(LARGEST_ID)]
"""A row id in a path, a query or a body: 1 to LARGEST_ID, else 422 naming the field."""


class Input(BaseModel):
    """Requests refuse unknown fields (a typo must not be silently ignored) and numbers that
    are not finite: JSON's 1e999 reads as infinity, and NaN or Infinity would be stored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Patch(Input):
    """Only the fields sent are changed; ``null`` is refused where the value cannot be empty."""

    not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _refuse_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in cls.not_null:
                if key in data and data[key] is None:
                    raise ValueError(f"{key} cannot be null")
        return data

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


OutputT = TypeVar("OutputT", bound=Output)


def from_row(model: type[OutputT], row: object, **extra: Any) -> OutputT:
    """The output filled from the row's attributes of the same names, and ``extra``."""
    values = {name: getattr(row, name) for name in model.model_fields if name not in extra}
    return model(**values, **extra)
