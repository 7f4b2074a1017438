from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.twitch.connection import Backoff, LineSplitter


def test_lines_split_across_chunks() -> None:
    s = LineSplitter()
    assert s.feed(b"PING :a\r\nPRIV") == [b"PING :a"]
    assert s.feed(b"MSG #c :x\r\n\r\n") == [b"PRIVMSG #c :x", b""]


def test_oversized_line_is_skipped_and_counted() -> None:
    s = LineSplitter(limit=16)
    out = s.feed(b"short\r\n" + b"x" * 40 + b"\r\nnext\r\n")
    assert out == [b"short", b"next"]
    assert s.oversized == 1
    # an oversized line arriving in pieces, with no newline yet, is dropped as it comes
    assert s.feed(b"y" * 20) == []
    assert s.feed(b"y" * 20 + b"\r\nafter\r\n") == [b"after"]
    assert s.oversized == 2


@given(
    st.lists(
        st.binary(max_size=50).filter(lambda b: b"\n" not in b and b"\r" not in b), max_size=20
    ),
    st.integers(1, 30),
)
def test_any_chunking_gives_the_same_lines(lines: list[bytes], chunk: int) -> None:
    data = b"".join(line + b"\r\n" for line in lines)
    s = LineSplitter(limit=100)
    out: list[bytes] = []
    for i in range(0, len(data), chunk):
        out += s.feed(data[i : i + chunk])
    assert out == lines


def test_backoff_grows_with_jitter_and_resets() -> None:
    import random

    b = Backoff(base=1, cap=8, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(6)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert all(4 <= d <= 8 for d in delays[3:])
    b.reset()
    assert b.next_delay() <= 1
