"""Reading a job file's text as TOML or YAML, with the line of every key.

``parse_source`` returns the plain data and a function giving the line of a key path such as
``("jobs", 2, "timeout")``: YAML nodes carry their position; for TOML, which ``tomllib``
parses without positions, ``_TomlLines`` scans the source for ``[[jobs]]`` headers and
``key =`` lines. Both formats refuse a key given twice in one table.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cronwork.errors import JobFileError

#: Where a value sits in the file: ``("jobs", 2, "timeout")``, ``("scheduler", "store")``.
KeyPath = tuple[str | int, ...]
#: The line of a key path in the file, or None when it cannot be told.
LineOf = Callable[[KeyPath], int | None]


def read_source(file: Path) -> str:
    """The text of the job file ``file``; JobFileError when it is missing or unreadable."""
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JobFileError([f"{file}: no such job file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JobFileError([f"{file}: cannot read the job file: {exc}"]) from None


def parse_source(text: str, name: str, fmt: str | None = None) -> tuple[Any, LineOf]:
    """Parse ``text`` as ``fmt`` (else by ``name``'s suffix); return the data and its lines."""
    kind = (fmt or Path(name).suffix.lstrip(".")).lower()
    if kind == "toml":
        return _load_toml(text, name), _TomlLines(text).line
    if kind in ("yaml", "yml"):
        return _load_yaml(text, name)
    raise JobFileError(
        [f"{name}: unknown job file format {kind!r}; use a .toml, .yaml or .yml file"]
    )


def quote(text: str) -> str:
    """``text`` in double quotes, as job files write it."""
    return json.dumps(text, ensure_ascii=False)


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _load_toml(text: str, name: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        if found:
            number = int(found.group(1))
            message = message[: found.start()]
            if message == "Cannot overwrite a value":
                # tomllib does not say which key; the line it points at does.
                key = _KEY.match(text.splitlines()[number - 1] if number else "")
                if key:
                    given = key.group(1) or key.group(2) or key.group(3)
                    message = f"duplicate key {quote(given)} ({message})"
            raise JobFileError([f"{name}:{number}: {message}"]) from None
        raise JobFileError([f"{name}: {message}"]) from None


def _load_yaml(text: str, name: str) -> tuple[Any, LineOf]:
    try:
        import yaml
    except ImportError:
        raise JobFileError(
            [f"{name}: YAML job files need PyYAML: pip install 'cronwork[yaml]'"]
        ) from None
    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise JobFileError([f"{where}: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise JobFileError([f"{name}: {exc}"]) from None
    finally:
        loader.dispose()

    def line(path: KeyPath) -> int | None:
        current = node
        found: int | None = current.start_mark.line + 1 if current is not None else None
        for step in path:
            if isinstance(current, yaml.MappingNode) and isinstance(step, str):
                for key, value in current.value:
                    if getattr(key, "value", None) == step:
                        found = key.start_mark.line + 1
                        current = value
                        break
                else:
                    return found
            elif isinstance(current, yaml.SequenceNode) and isinstance(step, int):
                if step >= len(current.value):
                    return found
                current = current.value[step]
                found = current.start_mark.line + 1
            else:
                return found
        return found

    return data, line


@functools.cache
def _yaml_loader() -> type[Any]:
    """PyYAML's SafeLoader, refusing a key given twice in one mapping (it keeps the last)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            _refuse_duplicate_keys(node)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def _refuse_duplicate_keys(node: Any) -> None:
    """Raise a marked YAML error at the second of two equal scalar keys of ``node``."""
    import yaml

    first: dict[tuple[str, str], Any] = {}
    for key, _ in node.value:
        # Merge keys (<<) bring in defaults that keys given here may override.
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        earlier = first.setdefault((key.tag, key.value), key)
        if earlier is not key:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {quote(key.value)} (first at line {earlier.start_mark.line + 1})",
                key.start_mark,
            )


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*[=.]""")


class _TomlLines:
    """Finds the line of a key in a TOML source by scanning it; no TOML positions exist.

    Good enough for files people write by hand: ``[[jobs]]`` blocks in order, keys at the
    start of a line. A key it cannot find falls back to its table's header line.
    """

    def __init__(self, text: str) -> None:
        self.jobs: list[tuple[int, dict[str, int]]] = []
        self.tables: dict[str, tuple[int, dict[str, int]]] = {"": (1, {})}
        keys = self.tables[""][1]
        for number, raw in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(raw)
            if header and not raw.lstrip().startswith("#"):
                table = ".".join(part.strip().strip("\"'") for part in header.group(2).split("."))
                if header.group(1) == "[[" and table == "jobs":
                    self.jobs.append((number, {}))
                    keys = self.jobs[-1][1]
                elif table.startswith("jobs.") and self.jobs:
                    # A sub-table of the current job, e.g. [jobs.kwargs]: point at its header.
                    self.jobs[-1][1].setdefault(table.split(".")[1], number)
                    keys = {}
                else:
                    self.tables[table] = (number, {})
                    keys = self.tables[table][1]
                continue
            key = _KEY.match(raw)
            if key:
                keys.setdefault(key.group(1) or key.group(2) or key.group(3), number)

    def line(self, path: KeyPath) -> int | None:
        """Line of ``("jobs", 2, "timeout")``, ``("scheduler", "store")`` or a prefix."""
        if not path:
            return None
        if path[0] == "jobs" and len(path) >= 2 and isinstance(path[1], int):
            if path[1] >= len(self.jobs):
                return self.tables[""][1].get("jobs")
            start, keys = self.jobs[path[1]]
            if len(path) >= 3 and isinstance(path[2], str):
                return keys.get(path[2], start)
            return start
        head = str(path[0])
        if head in self.tables:
            start, keys = self.tables[head]
            if len(path) >= 2:
                return keys.get(str(path[1]), start)
            return start
        return self.tables[""][1].get(head)
