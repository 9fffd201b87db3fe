"""cmarkgfm's Markdown -> HTML without its memory leak.

cmarkgfm (2025.10.22) never frees the HTML string cmark returns nor the parsed document
(`ffi.string(...)` copies the string; nothing calls `free` or `cmark_node_free`):
about 7 KB per call, so rendering 200,000 notes grows a process by well over a gigabyte.
This does the same calls through cmarkgfm's own bindings and frees both. Same options,
same extensions, same output (tests/test_cache_cmark.py compares the two).
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Sequence

import cmarkgfm
from cmarkgfm import _cmark
from cmarkgfm import cmark as _wrapper

_ffi = _cmark.ffi
_lib = _cmark.lib


def _c_function(library: str | None, name: str) -> Callable[[int], None] | None:
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p]
    function.restype = None
    return function  # type: ignore[no-any-return]


# cmark allocates with the C library's calloc/realloc (its default allocator).
_free = _c_function(None, "free")
_node_free = _c_function(_cmark.__file__, "cmark_node_free")
AVAILABLE = _free is not None and _node_free is not None


def _address(pointer: Any) -> int:
    return int(_ffi.cast("uintptr_t", pointer))


_FOUND: dict[tuple[str, ...], list[Any]] = {}


def _extensions(names: tuple[str, ...]) -> list[Any]:
    """The registered extensions by name, looked up once per process (about a third of
    the cost of a short note was finding the same five extensions again)."""
    found = _FOUND.get(names)
    if found is None:
        _wrapper.core_extensions_ensure_registered()
        found = []
        for name in names:
            extension = _wrapper.find_syntax_extension(name)
            if extension is None:
                raise ValueError(f"Unknown extension {name}")
            found.append(extension)
        _FOUND[names] = found
    return found


# One parser per (options, extensions), kept between calls. cmark_parser_finish ends by
# resetting the parser to a fresh document (cmark-gfm's blocks.c: cmark_parser_reset
# clears everything but the attached extensions, the options and the allocator), so a
# parser can be fed again; making one and attaching five extensions for every note was
# about a tenth of the cost of a note (1,000 contacts x 20 notes: 0.34 -> 0.30 s). A
# parser is taken out while in use, so a call that fails half-way frees its parser
# instead of leaving it for the next call, and calls from two threads get one each.
_PARSERS: dict[tuple[int, tuple[str, ...]], Any] = {}


def _take_parser(options: int, names: tuple[str, ...]) -> Any:
    parser = _PARSERS.pop((options, names), None)
    if parser is None:
        found = _extensions(names)
        parser = _lib.cmark_parser_new(options)
        for extension in found:
            _lib.cmark_parser_attach_syntax_extension(parser, extension)
    return parser


def markdown_to_html_with_extensions(text: str, options: int = 0, extensions: Sequence[str] = ()) -> str:
    """What cmarkgfm.markdown_to_html_with_extensions returns, with cmark's memory freed."""
    if not AVAILABLE:  # cannot reach free(): leak rather than fail
        return cmarkgfm.markdown_to_html_with_extensions(text, options=options, extensions=list(extensions))
    names = tuple(extensions)
    parser = _take_parser(options, names)
    try:
        data = text.encode("utf-8")
        _lib.cmark_parser_feed(parser, data, len(data))
        root = _lib.cmark_parser_finish(parser)  # the parser is a fresh one again from here
        try:
            raw = _lib.cmark_render_html(root, options, _lib.cmark_parser_get_syntax_extensions(parser))
            try:
                html = _ffi.string(raw).decode("utf-8")
            finally:
                _free(_address(raw))  # type: ignore[misc]
        finally:
            _node_free(_address(root))  # type: ignore[misc]
    except BaseException:
        _lib.cmark_parser_free(parser)
        raise
    if _PARSERS.setdefault((options, names), parser) is not parser:  # another thread's came back first
        _lib.cmark_parser_free(parser)
    return html
