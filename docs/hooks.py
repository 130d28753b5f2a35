"""MkDocs hook: pages generated from the code at build time, so they cannot drift from it.

- `<!-- config-reference -->` (docs/configuration.md) becomes the reference of every key of
  `briefs.tasks.core.config.BriefsConfig`: walked through `model_fields`, each dotted key
  with its type, default and description, each nested model's docstring as its intro.
- `<!-- warning-codes -->` (docs/guards.md) becomes the table of
  `briefs.tasks.quality.warnings.CODES` (code → meaning).
- `<!-- layout -->` (docs/architecture.md) becomes the modules of flows/, tasks/ and
  configs/, each with the first paragraph of its docstring (read from the source, not
  imported).

A marker left unreplaced fails the build.
"""

from __future__ import annotations

import ast
import html
import inspect
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

CONFIG_MARKER = "<!-- config-reference -->"
CODES_MARKER = "<!-- warning-codes -->"
LAYOUT_MARKER = "<!-- layout -->"
CT2_MARKER = "<!-- ct2-architectures -->"
MARKERS = (CONFIG_MARKER, CODES_MARKER, LAYOUT_MARKER, CT2_MARKER)
_replaced: set[str] = set()


def on_pre_build(config: Any) -> None:
    _replaced.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    generators = {CONFIG_MARKER: config_reference, CODES_MARKER: warning_codes,
                  LAYOUT_MARKER: lambda: layout(Path(config["config_file_path"]).parent),
                  CT2_MARKER: ct2_architectures}
    for marker, generate in generators.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
            _replaced.add(marker)
    return markdown


def on_post_build(config: Any) -> None:
    if missing := set(MARKERS) - _replaced:
        raise PluginError(f"docs/hooks.py: no page holds {', '.join(sorted(missing))}")


# --- the warning codes -------------------------------------------------------------------


def warning_codes() -> str:
    from briefs.tasks.quality.warnings import CODES

    rows = [f"| `{code}` | {text(meaning)} |" for code, meaning in CODES.items()]
    return "\n".join(["| code | meaning |", "|---|---|", *rows]) + "\n"


def ct2_architectures() -> str:
    """The model types CTranslate2 converts (`model_type` in a model's config.json)."""
    from briefs.tasks.models.engines import CT2_ARCHITECTURES

    return ", ".join(f"`{name}`" for name in sorted(CT2_ARCHITECTURES))


# --- the layout ---------------------------------------------------------------------------


def layout(root: Path) -> str:
    """A table per package: its modules (and data files), each with its docstring's first
    paragraph; the package's own docstring as its intro."""
    packages = [root / "flows", root / "tasks",
                *sorted(p.parent for p in (root / "tasks").glob("*/__init__.py")),
                root / "configs"]
    out = []
    for package in packages:
        out += [f"### `{package.relative_to(root)}/`", ""]
        if doc := docstring(package / "__init__.py"):
            out += [text(doc), ""]
        out += ["| file | what it holds |", "|---|---|"]
        for path in sorted(package.iterdir()):
            if path.name == "__init__.py" or path.name.startswith((".", "__")) or path.is_dir():
                continue
            about = text(docstring(path)) if path.suffix == ".py" else "package data"
            out.append(f"| `{path.name}` | {about} |")
        out.append("")
    return "\n".join(out)


def docstring(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return first_paragraph(doc)


# --- the configuration reference ---------------------------------------------------------


def config_reference() -> str:
    from briefs.tasks.core.config import BriefsConfig

    fields = BriefsConfig.model_fields
    out = ["### Top level", "", text(intro(BriefsConfig)), "",
           "| key | type | default | description |", "|---|---|---|---|"]
    for name, field in fields.items():
        model = nested_model(field.annotation)
        description = field.description or (first_paragraph(intro(model)) if model else "")
        if model:
            description = f"{description} See [`{name}`](#config-{name}).".strip()
        out.append(row(name, field, description))
    out.append("")
    for name, field in fields.items():
        if model := nested_model(field.annotation):
            out += section(name, model, level=3)
    return "\n".join(out) + "\n"


def section(path: str, model: type[BaseModel], level: int) -> list[str]:
    """A model's heading, intro and table of keys, then its nested models' sections."""
    anchor = "config-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
    out = [f"{'#' * level} `{path}` {{#{anchor}}}", ""]
    if doc := intro(model):
        out += [text(doc), ""]
    out += ["| key | type | default | description |", "|---|---|---|---|"]
    children = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}"
        out.append(row(key, field, field.description or ""))
        if child := nested_model(field.annotation):
            children.append((key + (".<name>" if is_mapping(field.annotation) else ""), child))
    out.append("")
    for key, child in children:
        out += section(key, child, level=min(level + 1, 5))
    return out


def row(key: str, field: FieldInfo, description: str) -> str:
    """A table row; the description's first paragraph only, on one line."""
    description = first_paragraph(description)
    return (f"| `{key}` | {text(type_name(field.annotation))}{constraints(field)} "
            f"| {default(field)} | {text(description)} |")


def intro(model: type[BaseModel]) -> str:
    """The first docstring of the model or of its bases below pydantic's own classes."""
    for cls in model.__mro__:
        if cls.__module__.startswith("pydantic"):
            break
        if doc := cls.__dict__.get("__doc__"):
            return inspect.cleandoc(doc)
    return ""


def first_paragraph(doc: str) -> str:
    """The first paragraph, on one line."""
    return doc.split("\n\n")[0].replace("\n", " ")


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, optional, or as the values of a mapping."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if found := nested_model(arg):
            return found
    return None


def is_mapping(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict


def type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if origin in (list, dict, tuple, set):
        return f"{origin.__name__}[{', '.join(type_name(arg) for arg in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def constraints(field: FieldInfo) -> str:
    """The field's bounds and pattern, e.g. ` (≥ 1)`."""
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "min length",
             "max_length": "max length"}
    found = []
    for item in field.metadata:
        for attr, sign in signs.items():
            if (value := getattr(item, attr, None)) is not None:
                found.append(f"{sign} {value}")
        if pattern := getattr(item, "pattern", None):
            found.append(f"matching `{pattern}`")
    return f" ({', '.join(found)})" if found else ""


def default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "its keys' defaults"
    if value is None:
        return "`null`"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{json.dumps(value)}`"


def text(markdown: str) -> str:
    """Prose from the code, safe in a table cell: `<`, `>`, `&` and `|` escaped outside
    code spans (so '<block-type>/<name>' shows, not a tag), lines joined."""
    parts = markdown.replace("\n\n", "\0").replace("\n", " ").split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = html.escape(parts[i], quote=False).replace("|", "\\|")
    return "`".join(parts).replace("\0", "\n\n")
