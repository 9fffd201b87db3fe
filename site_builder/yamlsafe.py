"""YAML the way a person means it, with the line of every key.

PyYAML implements YAML 1.1, which reads `country: NO` as False, `0471 12 34` as an
octal-ish int and `12:30` as 750, and silently keeps the last of duplicate keys. A
contact file is written by a person, so we resolve only the unambiguous scalars
(true/false, null, plain decimal numbers) and leave everything else as text. Dates stay
text too: the model parses them so that `1985-02-30` is a problem at its line, not a
traceback inside the YAML constructor.

We compose the node graph first and inspect it (duplicate keys, key lines, alias
expansion size) before constructing Python objects, so a "billion laughs" document is
rejected in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
import yaml.reader
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

try:  # libyaml is about 5x faster; fall back to pure Python where it is missing
    from yaml.cyaml import CParser as _Parser

    _PURE = ()
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)

# A front matter document with more nodes than this, once aliases are expanded, is
# treated as an alias bomb. Real contact files have a few hundred.
MAX_EXPANDED_NODES = 50_000
MAX_DEPTH = 60

Path = tuple[str | int, ...]


class _PersonResolver(BaseResolver):
    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}


_PersonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PersonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
# No leading zeros: phone numbers and postcodes such as 0471 or 01067 stay text.
_PersonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_PersonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789"),
)


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
# First character of a plain scalar -> the resolvers to try, as BaseResolver.resolve
# looks them up (no wildcard resolvers, no path resolvers are ever registered here).
_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = dict(_PersonResolver.yaml_implicit_resolvers)
assert None not in _IMPLICIT and not BaseResolver.yaml_path_resolvers


class _Loader(_Parser, SafeConstructor, _PersonResolver):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        SafeConstructor.__init__(self)
        _PersonResolver.__init__(self)

    # libyaml calls these around every node, for path resolvers, which are never
    # registered here (asserted above): C callables that take the same arguments and
    # do nothing cost half as much as PyYAML's methods, which return at once.
    descend_resolver = slice  # (parent node, index) -> a throwaway slice
    ascend_resolver = tuple  # () -> the empty tuple

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        """BaseResolver.resolve for this resolver, without its general cases: libyaml
        calls it for every node."""
        if kind is ScalarNode:
            if implicit[0]:
                for tag, regexp in _IMPLICIT.get(value[:1], ()):  # type: ignore[index]
                    if regexp.match(value):  # type: ignore[arg-type]
                        return tag
            return _STR
        return _SEQ if kind is SequenceNode else _MAP


# The scalar tags the fast path constructs (str is node.value itself); any other tag,
# explicit (!!timestamp, !!set, !!binary, !custom) or a merge key, takes the general path.
_SCALAR_CONSTRUCTORS: dict[str, Any] = {
    tag: SafeConstructor.yaml_constructors[tag]
    for tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                "tag:yaml.org,2002:float")
}


@dataclass(slots=True)
class YamlIssue:
    line: int | None  # 1-based, relative to the YAML text
    severity: str
    code: str
    message: str


@dataclass(slots=True)
class YamlResult:
    data: Any = None
    lines: dict[Path, int] = field(default_factory=dict)  # key path -> 1-based line
    issues: list[YamlIssue] = field(default_factory=list)
    ok: bool = True


def load(text: str, first_line: int = 1) -> YamlResult:
    """Parse one YAML document; never raises for bad input.

    Lines in the result are counted from first_line (the file line the YAML starts on).
    """
    offset = first_line - 1
    result = YamlResult()
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # control characters are rejected before parsing
        result.ok = False
        line = text[: max(exc.position, 0)].count("\n") + first_line
        result.issues.append(YamlIssue(line, "error", "yaml-syntax",
                                       f"character U+{exc.character:04X} is not allowed in front matter"))
        return result
    try:
        node = loader.get_single_node()
        if node is None:
            return result
        if "&" not in text:  # no anchor, so no alias: every node is used once
            fast = _fast_document(loader, node, offset)
            if fast is not None:
                result.data, result.lines, result.issues = fast
                return result
        if _expanded_size(node, {}, 0) > MAX_EXPANDED_NODES:
            result.ok = False
            result.issues.append(
                YamlIssue(
                    node.start_mark.line + first_line,
                    "error",
                    "yaml-alias-bomb",
                    f"front matter expands to more than {MAX_EXPANDED_NODES:,} values "
                    "through anchors and aliases; refusing to load it",
                )
            )
            return result
        _index(node, (), result, set(), offset)
        result.data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:  # libyaml finds control characters while parsing
        result.ok = False
        line = text[: max(exc.position, 0)].count("\n") + first_line
        result.issues.append(YamlIssue(line, "error", "yaml-syntax",
                                       f"character U+{exc.character:04X} is not allowed in front matter"))
    except yaml.MarkedYAMLError as exc:
        result.ok = False
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark is not None else None
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        result.issues.append(YamlIssue(line, "error", "yaml-syntax", f"YAML syntax error: {what}"))
    except yaml.YAMLError as exc:
        result.ok = False
        result.issues.append(YamlIssue(None, "error", "yaml-syntax", f"YAML error: {exc}"))
    except _TooDeep as exc:
        result.ok = False
        result.issues.append(
            YamlIssue(exc.line + offset, "error", "yaml-too-deep", f"front matter is nested more than {MAX_DEPTH} levels deep")
        )
    except RecursionError:
        result.ok = False
        result.issues.append(YamlIssue(None, "error", "yaml-too-deep", "front matter is nested too deeply"))
    finally:
        loader.dispose()
    return result


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _expanded_size(node: Node, memo: dict[int, int], depth: int) -> int:
    """Node count with every alias expanded, memoised so the walk is linear."""
    key = id(node)
    if key in memo:
        return memo[key]
    if depth > MAX_DEPTH:
        raise _TooDeep(node.start_mark.line + 1)
    memo[key] = 1  # guards against recursive structures
    size = 1
    if isinstance(node, SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, depth + 1)
            if size > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
            if size > MAX_EXPANDED_NODES:
                break
    memo[key] = size
    return size


def _index(node: Node, path: Path, result: YamlResult, active: set[int], offset: int) -> None:
    """Record the line of every key and sequence item; report duplicate keys."""
    if id(node) in active:  # a recursive alias; construction will handle it
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        seen: dict[object, int] = {}
        kept: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1 + offset
            key: object = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None:
                if key in seen:
                    shown = ".".join(str(p) for p in (*path, key))
                    result.issues.append(
                        YamlIssue(
                            line,
                            "error",
                            "duplicate-key",
                            f"duplicate key '{shown}' (first at line {seen[key]}); the first value is used",
                        )
                    )
                    continue  # drop it, so the data matches the line map: the first one wins
                seen[key] = line
                result.lines.setdefault((*path, str(key)), line)
                _index(value_node, (*path, str(key)), result, active, offset)
            kept.append((key_node, value_node))
        node.value = kept
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            result.lines.setdefault((*path, i), item.start_mark.line + 1 + offset)
            _index(item, (*path, i), result, active, offset)
    active.discard(id(node))


class _Unusual(Exception):
    """The document needs the general path (see _fast_document)."""


def _fast_document(loader: _Loader, root: Node, offset: int) -> tuple[Any, dict[Path, int], list[YamlIssue]] | None:
    """Data, key lines and duplicate-key issues in one walk over a node tree without
    aliases, the same as _expanded_size + _index + construct_document give; None when
    the document is unusual (too deep or big, a tag other than str, int, float, bool,
    null, seq and map, a key that is not a scalar, a value that fails to construct),
    and the general path must decide what it means.

    It is the hot path of every cold load: the general path walks every node three
    times and constructs each through PyYAML's generic, generator-based constructor.
    """
    lines: dict[Path, int] = {}
    issues: list[YamlIssue] = []
    count = 1  # nodes, as _expanded_size counts them (duplicate keys included)
    scalars = _SCALAR_CONSTRUCTORS

    def build(node: Node, path: Path, depth: int) -> Any:
        nonlocal count
        cls = node.__class__
        if cls is ScalarNode:
            tag = node.tag
            if tag == _STR:
                return node.value
            return scalars[tag](loader, node)  # KeyError for other tags: _Unusual below
        children = node.value
        if children and depth >= MAX_DEPTH:
            raise _Unusual
        if cls is MappingNode and node.tag == _MAP:
            count += 2 * len(children)
            mapping: dict[Any, Any] = {}
            for key_node, value_node in children:
                if key_node.__class__ is not ScalarNode:
                    raise _Unusual
                text = key_node.value
                line = key_node.start_mark.line + 1 + offset
                sub = path + (text,)
                if sub in lines:  # only an earlier key of this mapping has this path
                    shown = ".".join(str(p) for p in sub)
                    issues.append(YamlIssue(line, "error", "duplicate-key",
                                            f"duplicate key '{shown}' (first at line {lines[sub]}); the first value is used"))
                    continue
                lines[sub] = line
                key = text if key_node.tag == _STR else scalars[key_node.tag](loader, key_node)
                if value_node.__class__ is ScalarNode and value_node.tag == _STR:
                    mapping[key] = value_node.value
                else:
                    mapping[key] = build(value_node, sub, depth + 1)
            return mapping
        if cls is SequenceNode and node.tag == _SEQ:
            count += len(children)
            items = []
            for i, item in enumerate(children):
                sub = path + (i,)
                lines[sub] = item.start_mark.line + 1 + offset
                if item.__class__ is ScalarNode and item.tag == _STR:
                    items.append(item.value)
                else:
                    items.append(build(item, sub, depth + 1))
            return items
        raise _Unusual

    try:
        data = build(root, (), 0)
    except Exception:  # anything unusual, errors included: the general path reports it
        return None
    finally:
        # build refers to itself through its closure: a cycle holding the loader (with
        # libyaml's buffers, about 30 KB a file) until a garbage collection, and loads run
        # with the collector paused (cache.gc_paused): 300 MB at 10,000 files.
        del build
    if count > MAX_EXPANDED_NODES:
        return None
    return data, lines, issues
