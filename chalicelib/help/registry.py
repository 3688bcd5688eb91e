"""The content generation and the index pointer.

Every change an admin makes (a publish, an unpublish, a section) is committed first; then a build
bumps the generation (atomic ADD) and only then reads the published articles (consistent reads).
So a build of generation g has seen every change whose own build got a generation <= g, and the
pointer, which only a higher generation may move (conditional write), always names an index that
has seen at least every change before the newest bump: two publishes at once, whatever their
interleaving, leave the index of the later bump, which holds both.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from chalicelib.help.models import INDEX_PK, HelpIndexPointer, HelpIndexState


@dataclass(frozen=True)
class Pointer:
    generation: int
    object_key: str
    built_at: str
    articles: int
    size_bytes: int


def next_generation() -> int:
    """One more than any build before: an atomic ADD that returns the new value."""
    state = HelpIndexState(INDEX_PK, "STATE")
    state.update(actions=[HelpIndexState.type.set(HelpIndexState), HelpIndexState.generation.add(1)])
    return int(state.generation)


def read_pointer(*, consistent: bool = False) -> Pointer | None:
    try:
        item = HelpIndexPointer.get(INDEX_PK, "POINTER", consistent_read=consistent)
    except HelpIndexPointer.DoesNotExist:
        return None
    return Pointer(
        generation=int(item.generation),
        object_key=item.object_key,
        built_at=item.built_at,
        articles=int(item.articles),
        size_bytes=int(item.size_bytes),
    )


def move_pointer(pointer: Pointer) -> bool:
    """Point containers at this index, unless one of the same or a higher generation is already
    named (then False: this build is superseded and nothing changes)."""
    item = HelpIndexPointer(INDEX_PK, "POINTER")
    try:
        item.update(
            actions=[
                HelpIndexPointer.type.set(HelpIndexPointer),
                HelpIndexPointer.generation.set(pointer.generation),
                HelpIndexPointer.object_key.set(pointer.object_key),
                HelpIndexPointer.built_at.set(pointer.built_at),
                HelpIndexPointer.articles.set(pointer.articles),
                HelpIndexPointer.size_bytes.set(pointer.size_bytes),
            ],
            condition=HelpIndexPointer.generation.does_not_exist()
            | (HelpIndexPointer.generation < pointer.generation),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
