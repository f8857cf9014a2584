from django.db.models import QuerySet


def offset_page(queryset: QuerySet, *, limit: int, offset: int) -> tuple[list, int | None]:
    """One page of an ordered queryset and the offset of the next one (None: last page).
    One query: a row more than asked tells whether another page follows."""
    rows = list(queryset[offset : offset + limit + 1])
    return rows[:limit], (offset + limit if len(rows) > limit else None)
