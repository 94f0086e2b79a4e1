"""The masker: every shown form of a secret, overlapping secrets, streams split anywhere."""

from __future__ import annotations

import json
import shlex
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from greenroom.secrets import MASK, Masker, mask_text

TRICKY = ("Tok'en\"9x", "new\nline", "tab\tand\\back", "ünï-cödé", "a b&c=d/e", "[b]tag[/b]")


def test_every_quoting_of_a_secret_is_masked() -> None:
    masker = Masker(TRICKY)
    for secret in TRICKY:
        for shown in (
            secret,
            repr(secret),
            repr(f"host {secret}.example.com"),
            repr(f"both quotes ' \" {secret}"),
            ascii(secret),
            json.dumps(secret),
            json.dumps({"k": secret}),
            json.dumps(secret, ensure_ascii=False),
            shlex.quote(secret),
            shlex.join(["sh", "-c", f"echo {secret} done"]),
            quote(secret),
            quote(secret, safe=""),
            secret.replace("'", "''"),
        ):
            masked = masker.text(f"before {shown} after")
            assert MASK in masked, shown
            assert secret not in masked
            assert masked.startswith("before ") and masked.endswith(" after"), masked


def test_the_repr_of_a_host_name_from_the_issue() -> None:
    message = f"host name {'Tok' + chr(39) + 'en' + chr(34) + '9.example.com'!r} must be lowercase"
    assert message == "host name 'Tok\\'en\"9.example.com' must be lowercase"
    assert mask_text(message, ["Tok'en\"9"]) == f"host name '{MASK}.example.com' must be lowercase"


def test_overlapping_and_nested_secrets_are_masked_whole() -> None:
    assert mask_text("abcdefghi", ["abcdef", "defghi"]) == MASK
    assert mask_text("xx secret-long yy", ["secret", "secret-long"]) == f"xx {MASK} yy"
    assert mask_text(MASK, ["****"]) == MASK  # masking twice changes nothing


def test_data_is_masked_in_keys_and_values() -> None:
    masker = Masker(["s3cret"])
    data = {"s3cret-key": ["url://u:s3cret@h", ("x", 1, None, True)], "n": 2}
    assert masker.data(data) == {f"{MASK}-key": [f"url://u:{MASK}@h", ["x", 1, None, True]], "n": 2}


def test_short_values_are_ignored() -> None:
    assert not Masker(["abc", ""])
    assert Masker(["abcd"]).text("abcd abc") == f"{MASK} abc"


def test_lines_waits_for_the_end_of_a_line() -> None:
    masker = Masker(["password"])
    pieces = list(masker.lines(["a pass", "word b\nnext pa", "ss", "word\n", "tail"]))
    assert "".join(pieces) == f"a {MASK} b\nnext {MASK}\ntail"
    assert pieces[0] == f"a {MASK} b\n"
    assert all("pass" not in p and "word" not in p for p in pieces)


def test_lines_holds_back_a_possible_start_of_a_multi_line_secret() -> None:
    pieces = list(Masker(["ab\ncd"]).lines(["xx ab\n", "cd yy\n"]))
    assert pieces == ["xx ", f"{MASK} yy\n"]


def test_a_long_partial_line_is_let_through_past_the_limit() -> None:
    masker = Masker(["secret"])
    pieces = list(masker.lines(["x" * 30, "secret", "y" * 5, "sec"], limit=10))
    assert pieces[0] == "x" * 30
    assert "".join(pieces) == "x" * 30 + MASK + "y" * 5 + "sec"


def test_no_secrets_no_buffering() -> None:
    assert list(Masker().lines(["a", "b"])) == ["a", "b"]


@given(
    st.lists(st.sampled_from(["ab", "c", "\n", "s3cr", "et", "x", "s3cret\n", "ret"]), max_size=30),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=10),
)
def test_streamed_text_is_masked_as_the_whole_text_is(parts: list[str], sizes: list[int]) -> None:
    masker = Masker(["s3cret", "c\ns3c"])
    text = "".join(parts)
    chunks, i, k = [], 0, 0
    while i < len(text):
        size = sizes[k % len(sizes)]
        chunks.append(text[i : i + size])
        i, k = i + size, k + 1
    assert "".join(masker.lines(chunks)) == masker.text(text)
