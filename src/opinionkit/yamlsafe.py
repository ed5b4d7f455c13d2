"""Safe, position-keeping YAML reading for hand-written case and profile files.

Built on PyYAML's event stream rather than its constructor, so that:

* every scalar arrives as the exact text typed (or ``None`` for an empty/``null`` value),
  and pydantic decides what it means: ``mrn: 00123`` stays ``"00123"``;
* aliases, anchors, explicit tags and several documents are refused outright (no billion
  laughs, no object construction);
* duplicate keys, over-deep nesting, too many nodes, huge scalars and huge files are refused;
* every node's line and column is kept, keyed by its path, for findings.

Problems are raised as :class:`YamlProblem` carrying a position and a message that never
quotes the file's content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_SCALAR = 64 * 1024
_NULLS = {"", "~", "null", "Null", "NULL"}

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML was built with it (its wheels are): the same events and
positions as the pure-Python one, about ten times faster."""


@dataclass(frozen=True)
class Pos:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class YamlDoc:
    data: Any
    positions: dict[Path_, Pos] = field(default_factory=dict)
    """Where each node starts; for a mapping key's path, the position of the key itself."""

    def position(self, path: Path_) -> Pos | None:
        """The position of ``path`` or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if p in self.positions:
                return self.positions[p]
            if not p:
                return None
            p = p[:-1]


class YamlProblem(Exception):
    def __init__(self, code: str, message: str, pos: Pos | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.pos = pos
        self.hint = hint


def _pos(mark: Any) -> Pos | None:
    if mark is None:
        return None
    return Pos(mark.line + 1, mark.column + 1)


def decode(raw: bytes) -> str:
    if len(raw) > MAX_BYTES:
        raise YamlProblem(
            "yaml.too-large",
            f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB",
            None,
            "a case file holds text only; reference records by path instead of pasting them in",
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise YamlProblem(
            "yaml.encoding",
            "the file is not valid UTF-8 text",
            Pos(line, e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1),
            "save the file as UTF-8 (most editors offer it under 'Save as' / 'Encoding')",
        ) from None
    if "\x00" in text:
        raise YamlProblem(
            "yaml.encoding", "the file contains NUL bytes; it is not a text file", None
        )
    return text


def parse(raw: bytes) -> YamlDoc:
    """Parse one YAML document into plain dicts, lists, strings and ``None``."""
    text = decode(raw)
    try:
        return _parse(text, _LOADER)
    except YamlProblem as problem:
        if problem.code != "yaml.syntax" or _LOADER is yaml.SafeLoader:
            raise
    # libyaml words and places syntax errors a little differently: report the
    # pure-Python parser's (documented, tested) message and position.
    return _parse(text, yaml.SafeLoader)


def _parse(text: str, loader: Any) -> YamlDoc:
    positions: dict[Path_, Pos] = {}
    # Stack of containers being built: (container, path, pending key or None, seen keys)
    stack: list[list[Any]] = []
    root: Any = None
    have_root = False
    documents = 0
    nodes = 0

    def place(value: Any, pos: Pos | None) -> Path_:
        nonlocal root, have_root
        if not stack:
            root = value
            have_root = True
            path: Path_ = ()
        else:
            top = stack[-1]
            container, cpath = top[0], top[1]
            if isinstance(container, list):
                path = (*cpath, len(container))
                container.append(value)
            else:
                key = top[2]
                path = (*cpath, key)
                container[key] = value
                top[2] = None
                return path  # key position already recorded
        if pos is not None:
            positions[path] = pos
        return path

    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise YamlProblem(
                        "yaml.multiple-documents",
                        "the file holds more than one YAML document ('---')",
                        _pos(event.start_mark),
                        "keep one case per file",
                    )
                continue
            if isinstance(event, yaml.AliasEvent):
                raise YamlProblem(
                    "yaml.alias",
                    "YAML aliases (*name) are not allowed in case files",
                    _pos(event.start_mark),
                    "write the value out in full",
                )
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    raise YamlProblem(
                        "yaml.too-large", f"more than {MAX_NODES} values", _pos(event.start_mark)
                    )
                if event.anchor is not None:
                    raise YamlProblem(
                        "yaml.anchor",
                        "YAML anchors (&name) are not allowed in case files",
                        _pos(event.start_mark),
                        "write the value out in full",
                    )
                # Untagged nodes have tag None; anything else was written by hand (!!str, !x, !).
                explicit = getattr(event, "tag", None) is not None
                if explicit:
                    raise YamlProblem(
                        "yaml.tag",
                        "YAML tags (!!type or !name) are not allowed in case files",
                        _pos(event.start_mark),
                        "remove the tag; quote the value if it must stay text",
                    )
            if isinstance(event, yaml.ScalarEvent):
                if len(event.value) > MAX_SCALAR:
                    raise YamlProblem(
                        "yaml.too-large",
                        f"a value is longer than {MAX_SCALAR // 1024} KiB",
                        _pos(event.start_mark),
                    )
                plain = not event.style  # None (pure-Python parser) or "" (libyaml)
                value: Any = None if (plain and event.value in _NULLS) else event.value
                if stack and isinstance(stack[-1][0], dict) and stack[-1][2] is None:
                    # This scalar is a mapping key.
                    top = stack[-1]
                    key = "" if value is None else value
                    if key in top[3]:
                        raise YamlProblem(
                            "yaml.duplicate-key",
                            f"the key '{_safe_key(key)}' appears twice in the same mapping",
                            _pos(event.start_mark),
                            "keep one; later values would silently replace earlier ones",
                        )
                    top[3].add(key)
                    top[2] = key
                    positions[(*top[1], key)] = _pos(event.start_mark)  # type: ignore[assignment]
                else:
                    place(value, _pos(event.start_mark))
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if stack and isinstance(stack[-1][0], dict) and stack[-1][2] is None:
                    raise YamlProblem(
                        "yaml.complex-key",
                        "a mapping key must be plain text",
                        _pos(event.start_mark),
                    )
                if len(stack) >= MAX_DEPTH:
                    raise YamlProblem(
                        "yaml.too-deep",
                        f"values are nested more than {MAX_DEPTH} levels deep",
                        _pos(event.start_mark),
                    )
                container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
                path = place(container, _pos(event.start_mark))
                stack.append([container, path, None, set()])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "invalid YAML"
        problem = e.problem or ""
        if (
            e.context
            and e.context_mark is not None
            and ("end of stream" in problem or "<stream end>" in problem)
        ):
            # An unclosed quote or bracket: the useful place is where it was opened.
            mark = e.context_mark
            opened = "a quote" if "quoted" in e.context else "a bracket or block"
            what = f"{opened} opened here is never closed"
        raise YamlProblem(
            "yaml.syntax",
            f"YAML syntax error: {what}",
            _pos(mark),
            "check indentation (spaces, not tabs) and that text with ': ' or '#' is quoted",
        ) from None
    except yaml.YAMLError:
        raise YamlProblem("yaml.syntax", "YAML syntax error", None) from None
    except RecursionError:
        raise YamlProblem("yaml.too-deep", "values are nested too deeply", None) from None
    if not have_root:
        root = None
    return YamlDoc(root, positions)


def _safe_key(key: str) -> str:
    """Keys are field names, not patient data; still, shorten and strip odd characters."""
    clean = "".join(ch for ch in key if ch.isprintable())[:40]
    return clean


def path_str(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
