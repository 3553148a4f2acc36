"""Generates the protocol's JSON Schema; the committed copy is the published contract.

Run ``python -m shared.schema_export`` after changing a model; a test fails when
the committed file and the models differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from shared.protocol import CHANNELS, PROTOCOL_VERSION

SCHEMA_PATH = Path(__file__).parent / "schema" / f"protocol-v{PROTOCOL_VERSION}.schema.json"


def build_schema() -> dict[str, Any]:
    mode: Literal["validation"] = "validation"
    keyed = [(name, mode, adapter) for name, adapter in CHANNELS.items()]
    refs, defs = TypeAdapter.json_schemas(keyed, ref_template="#/$defs/{model}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Silent alarm WebSocket protocol",
        "x-protocol-version": PROTOCOL_VERSION,
        "properties": {name: refs[(name, "validation")] for name in CHANNELS},
        "$defs": defs["$defs"],
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")


if __name__ == "__main__":
    main()
