"""Safe YAML loading that remembers where every key and value was written (for messages).

    doc = load_yaml(Path("pipeline.yaml"))
    doc.data["steps"]["train"]                      # the plain parsed data
    doc.where("steps", "train", "component")        # "pipeline.yaml:12:5: steps.train.component"
    raise SpecError(f"{doc.where('steps', 'train')}: unknown key")

Lines and columns are 1-based. A key path that is not in the document (a missing key) is
placed at its deepest written parent, so a message still points into the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stepline.errors import SpecError

KeyPath = tuple[str | int, ...]
#: (line, column), both 1-based
Position = tuple[int, int]


@dataclass
class YamlDoc:
    """A parsed YAML document plus the position of each key path (and of its value)."""

    path: Path
    data: Any
    keys: dict[KeyPath, Position] = field(default_factory=dict)
    values: dict[KeyPath, Position] = field(default_factory=dict)

    def position(self, *keys: str | int, value: bool = False) -> Position | None:
        """Position of the deepest known prefix of `keys` (its key, or its value when asked)."""
        table = self.values if value else self.keys
        for n in range(len(keys), -1, -1):
            if keys[:n] in table:
                return table[keys[:n]]
        return None

    def line(self, *keys: str | int) -> int | None:
        """Line of the deepest known prefix of `keys` (None when the document is empty)."""
        pos = self.position(*keys)
        return pos[0] if pos else None

    def where(self, *keys: str | int, value: bool = False) -> str:
        """`file:line:column: a.b.c` for messages (`file:line:column` without keys)."""
        pos = self.position(*keys, value=value)
        loc = f"{self.path}:{pos[0]}:{pos[1]}" if pos else str(self.path)
        return f"{loc}: {dotted(keys)}" if keys else loc


def dotted(keys: KeyPath) -> str:
    """`("steps", "train", "inputs", 0)` → `steps.train.inputs[0]`."""
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(node: yaml.Node, prefix: KeyPath, doc: YamlDoc) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            path = (*prefix, key)
            doc.keys[path] = _mark(key_node)
            doc.values[path] = _mark(value_node)
            _walk(value_node, path, doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = (*prefix, i)
            doc.keys[path] = doc.values[path] = _mark(item)
            _walk(item, path, doc)


def load_yaml_text(text: str, path: Path) -> YamlDoc:
    """Parse `text` safely; a syntax error becomes a SpecError naming file, line and column."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{where}: not valid YAML: {problem}") from exc
    doc = YamlDoc(path=path, data=data)
    if node is not None:
        doc.keys[()] = doc.values[()] = _mark(node)
        _walk(node, (), doc)
    return doc


def load_yaml(path: Path) -> YamlDoc:
    """Read and parse a YAML file (see `load_yaml_text`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from exc
    return load_yaml_text(text, path)
