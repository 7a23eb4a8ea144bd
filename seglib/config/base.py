"""Base class every config section derives from: unknown keys are an error, values are validated on assignment."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
    # Keys of earlier releases -> where they went ("<old dotted key> moved to <new place>"): one clear error at load
    # instead of "unknown key".
    MOVED_KEYS: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        if cls.MOVED_KEYS and isinstance(data, dict):
            found = [cls.MOVED_KEYS[k] for k in sorted(cls.MOVED_KEYS) if k in data]
            if found:
                raise ValueError("; ".join(found))
        return data
