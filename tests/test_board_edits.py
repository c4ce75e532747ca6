"""What the board editor's buttons do, as Board methods: edit → the tiles afterwards.

The 看板 page only calls these; each returns a new board validated like a saved file, so a
button can never write a board the YAML loader would refuse.
"""
from __future__ import annotations

from collections.abc import Callable

import pytest

from citybi.boards import Board, BoardSpecError, Tile, board_from_dict, dump_board, load_board

BOARD = Board(title="周报", tiles=[Tile(chart="a", width=6), Tile(chart="b", width=12), Tile(chart="c", width=4)])


def _tiles(board: Board) -> list[tuple[str | None, int]]:
    return [(t.chart, t.width) for t in board.tiles]


EDITS: list[tuple[str, Callable[[Board], Board], list[tuple[str | None, int]]]] = [
    ("add a chart at the end", lambda b: b.with_tile("d", 3), [("a", 6), ("b", 12), ("c", 4), ("d", 3)]),
    ("move the first tile down", lambda b: b.with_tile_moved(0, 1), [("b", 12), ("a", 6), ("c", 4)]),
    ("move the last tile up", lambda b: b.with_tile_moved(2, -1), [("a", 6), ("c", 4), ("b", 12)]),
    ("moving past the top changes nothing", lambda b: b.with_tile_moved(0, -1), [("a", 6), ("b", 12), ("c", 4)]),
    ("moving past the end changes nothing", lambda b: b.with_tile_moved(2, 1), [("a", 6), ("b", 12), ("c", 4)]),
    ("widen by two columns", lambda b: b.with_tile_widened(0), [("a", 8), ("b", 12), ("c", 4)]),
    ("a full-width tile goes back to half", lambda b: b.with_tile_widened(1), [("a", 6), ("b", 6), ("c", 4)]),
    ("remove the middle tile", lambda b: b.without_tile(1), [("a", 6), ("c", 4)]),
]


@pytest.mark.parametrize(("case", "edit", "tiles"), EDITS, ids=[c for c, _e, _t in EDITS])
def test_editor_buttons(case: str, edit: Callable[[Board], Board], tiles: list[tuple[str | None, int]]) -> None:
    edited = edit(BOARD)
    assert _tiles(edited) == tiles
    assert _tiles(BOARD) == [("a", 6), ("b", 12), ("c", 4)]  # the original is never changed
    assert load_board(dump_board(edited)) == edited  # what is saved loads back the same


@pytest.mark.parametrize(("changes", "message"), [
    ({"title": ""}, "标题"),
    ({"refresh_seconds": 5}, "自动刷新间隔至少"),
    ({"title": "x" * 201}, "标题"),
], ids=["empty-title", "refresh-too-often", "title-too-long"])
def test_settings_are_checked_like_a_saved_file(changes: dict[str, object], message: str) -> None:
    with pytest.raises(BoardSpecError) as err:
        BOARD.edited(**changes)
    assert message in err.value.message


def test_settings_change_keeps_the_tiles() -> None:
    edited = BOARD.edited(title="城管周报", description="每周一看", refresh_seconds=60)
    assert (edited.title, edited.description, edited.refresh_seconds) == ("城管周报", "每周一看", 60)
    assert edited.tiles == BOARD.tiles
    assert board_from_dict({"title": "新看板"}).tiles == []
