"""Validate a Camtrap DP 1.0.2 package offline against the official profile and table schemas.

Two real validators, no hand-written rules:

* ``datapackage.json`` against ``camtrap-dp-profile.json`` with ``jsonschema`` (draft 4). The
  profile's two remote references are resolved offline: the GeoJSON schema to the copy that
  ships with frictionless, the generic Data Package schema to an empty schema (frictionless
  checks the generic Data Package rules itself, below).
* ``deployments.csv``, ``media.csv``, ``observations.csv`` against the table schemas with
  ``frictionless``: field names and order, types and formats, required, enums, minimum /
  maximum, patterns, primary keys and the foreign keys between the three tables.

Every problem is one line naming the file, the row and the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SCHEMA_DIR = Path(__file__).with_name("camtrap_dp_schemas")
TABLES = ("deployments", "media", "observations")
VERSION = "1.0.2"
BASE_URL = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}"
PROFILE_URL = f"{BASE_URL}/camtrap-dp-profile.json"
DATA_PACKAGE_URL = "https://specs.frictionlessdata.io/schemas/data-package.json"
GEOJSON_URL = "http://json.schemastore.org/geojson.json"


class CamtrapDPError(ValueError):
    """A package that fails its schema; the message names the file, row and field of each problem."""

    def __init__(self, package: str | os.PathLike, problems: list[str], limit: int = 20):
        self.problems = problems
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(f"{package}: not a valid Camtrap DP {VERSION} package ({len(problems)} problem(s)):\n  "
                         + "\n  ".join(problems[:limit]) + more)


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(f"Camtrap DP validation needs the '{module}' package: "
                          f"pip install 'irbis[exchange]' (or pip install frictionless)") from exc


def table_schema(name: str, schema_dir: str | os.PathLike | None = None) -> dict:
    return json.loads((Path(schema_dir or SCHEMA_DIR) / f"{name}-table-schema.json").read_text(encoding="utf-8"))


def profile_problems(descriptor: dict, schema_dir: str | os.PathLike | None = None) -> list[str]:
    """``datapackage.json`` against the Camtrap DP profile (jsonschema, offline references)."""
    _require("jsonschema")
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4
    profile = json.loads((Path(schema_dir or SCHEMA_DIR) / "camtrap-dp-profile.json").read_text(encoding="utf-8"))
    geojson = {}
    try:
        import frictionless
        geojson = json.loads((Path(frictionless.__file__).parent / "assets/profiles/geojson.json").read_text())
        geojson.pop("$schema", None)
        geojson.pop("id", None)
    except (ImportError, OSError):
        pass
    registry = Registry().with_resources([(DATA_PACKAGE_URL, Resource({}, specification=DRAFT4)),  # type: ignore[call-arg]
                                          (GEOJSON_URL, Resource(geojson, specification=DRAFT4))])  # type: ignore[call-arg]
    validator = jsonschema.Draft4Validator(profile, registry=registry)
    out = []
    for err in sorted(validator.iter_errors(descriptor), key=lambda e: list(e.absolute_path)):
        where = "/".join(map(str, err.absolute_path)) or "(top level)"
        out.append(f"datapackage.json: {where}: {err.message[:300]}")
    return out


def table_problems(package_dir: str | os.PathLike, descriptor: dict,
                   schema_dir: str | os.PathLike | None = None) -> list[str]:
    """The three CSV tables against the official table schemas (frictionless)."""
    _require("frictionless")
    from frictionless import Package
    resources = []
    by_name = {r.get("name"): r for r in descriptor.get("resources", []) if isinstance(r, dict)}
    out = []
    for name in TABLES:
        r = by_name.get(name)
        if r is None or not r.get("path"):
            out.append(f"datapackage.json: resources: no '{name}' resource with a path")
            continue
        if not (Path(package_dir) / r["path"]).is_file():
            out.append(f"{r['path']}: file not found in the package")
            continue
        resources.append({"name": name, "path": r["path"], "profile": "tabular-data-resource", "format": "csv",
                          "encoding": "utf-8", "schema": table_schema(name, schema_dir)})
    if out:
        return out
    report = Package({"name": "camtrap-dp", "resources": resources}, basepath=str(package_dir)).validate()
    for task in report.tasks:
        file = by_name[task.name]["path"] if task.name in by_name else task.name
        for e in task.errors:
            row = getattr(e, "row_number", None)
            field = getattr(e, "field_name", None)
            loc = (f" row {row}" if row else "") + (f" field {field}" if field else "")
            out.append(f"{file}{loc}: {e.type}: {e.note or e.message}")
    return out


def validate_package(package_dir: str | os.PathLike, schema_dir: str | os.PathLike | None = None) -> list[str]:
    """Every problem of the package in ``package_dir`` (empty when valid)."""
    path = Path(package_dir) / "datapackage.json"
    try:
        descriptor = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"datapackage.json: cannot be read: {exc}"]
    if not isinstance(descriptor, dict):
        return ["datapackage.json: not a JSON object"]
    return profile_problems(descriptor, schema_dir) + table_problems(package_dir, descriptor, schema_dir)


def check_package(package_dir: str | os.PathLike, schema_dir: str | os.PathLike | None = None) -> None:
    """Raise :class:`CamtrapDPError` naming every problem (file, row, field) unless the package is valid."""
    problems = validate_package(package_dir, schema_dir)
    if problems:
        raise CamtrapDPError(package_dir, problems)
