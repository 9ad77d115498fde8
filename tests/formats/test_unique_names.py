"""File stems an export makes unique, remembered in bounded memory (filter, recent set, SQLite)."""

from __future__ import annotations

import pytest

from modelworks.formats.common import UniqueNames


@pytest.mark.parametrize("pending", [4, 4096], ids=["spilled", "in-memory"])
def test_a_name_claimed_again_gets_a_suffix_and_others_stay_as_they_are(pending: int) -> None:
    with UniqueNames(pending=pending) as names:
        claimed = [names.claim(f"img{i}") for i in range(50)]
        assert claimed == [f"img{i}" for i in range(50)]
        # Names claimed long ago (in the database when spilled) and just now both collide.
        assert [names.claim("img0"), names.claim("img0"), names.claim("img49")] == [
            "img0_1",
            "img0_2",
            "img49_1",
        ]
        # A suffixed name that is itself taken moves on to the next suffix.
        assert names.claim("img0_3") == "img0_3"
        assert names.claim("img0") == "img0_4"


def test_folder_prefixes_keep_names_apart() -> None:
    with UniqueNames(pending=2) as names:
        assert [names.claim(f"{folder}/a") for folder in ("cat", "dog", "cat")] == [
            "cat/a",
            "dog/a",
            "cat/a_1",
        ]
