"""vCard/iCalendar line folding (exports/vcard.fold): the ASCII fast path and the general
path give lines of at most `limit` octets that unfold to the original, never splitting a
UTF-8 sequence, and fold as early as possible (every line but the last is full)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from site_builder.exports.vcard import fold

TEXT = st.one_of(st.text(alphabet=st.characters(max_codepoint=127), max_size=400),
                 st.text(max_size=300), st.text(alphabet="aé€😀,; ", max_size=300))


@settings(max_examples=400, deadline=None)
@given(TEXT.filter(lambda s: "\r" not in s and "\n" not in s), st.sampled_from([75, 10, 5]))
def test_fold_limits_lines_and_unfolds_to_the_original(line: str, limit: int) -> None:
    folded = fold(line, limit)
    parts = folded.split("\r\n")
    assert "".join([parts[0], *(p[1:] for p in parts[1:])]) == line
    assert all(p.startswith(" ") for p in parts[1:])
    sizes = [len(p.encode("utf-8")) for p in parts]
    assert all(size <= limit for size in sizes)
    for part, size, nxt in zip(parts, sizes, parts[1:]):  # a line ends only when the next character would not fit
        assert size + len(nxt[1].encode("utf-8")) > limit


def test_short_lines_are_returned_as_they_are() -> None:
    assert fold("N:Byron;Ada;;;") == "N:Byron;Ada;;;"
    assert fold("x" * 75) == "x" * 75
    assert fold("x" * 76) == "x" * 75 + "\r\n x"
    assert fold("é" * 38) == "é" * 37 + "\r\n é"
