"""Mentions: `@username` of a member in a message's text.

Nothing is stored: a mention is read from the text when it is needed (the chat list's
mention count, the digest), so the message write stays one statement and an edit that
removes a mention removes it everywhere. The rule is the same in Python and in SQL: `@`
not preceded by a word character, the username (case-insensitive), then no further
username character (a trailing `.` ends a sentence, so "@ann." mentions ann).
"""

import re

from chats.models import Chat

# Django's username characters: letters, digits and @ . + - _
_TOKEN = re.compile(r"(?<![\w@.+-])@([\w.@+-]+)")


def mentioned_usernames(text: str) -> set[str]:
    """The lower-cased names written as @name in the text (members or not)."""
    names: set[str] = set()
    for match in _TOKEN.finditer(text or ""):
        name = match.group(1)
        # "@ann." or "@ann..": sentence punctuation, not part of the name; "@ann.b" is a name.
        names.add(name.lower())
        names.add(name.rstrip(".").lower())
    return names


def mentions_for(text: str, chat: Chat | int) -> list[int]:
    """The ids of the chat's members whom the text mentions, in id order.

    One query (the members whose lower-cased username is among the candidates); no query
    when the text has no `@`.
    """
    from chats.models import Membership

    names = mentioned_usernames(text)
    if not names:
        return []
    chat_id = chat if isinstance(chat, int) else chat.pk
    return sorted(
        Membership.objects.filter(chat_id=chat_id, user__username__iregex=_any_of(names)).values_list(
            "user_id", flat=True
        )
    )


def _any_of(names: set[str]) -> str:
    return "^(" + "|".join(re.escape(name) for name in sorted(names)) + ")$"


def mention_sql_pattern(username: str) -> str:
    """A PostgreSQL regular expression (for `text ~* pattern`) that matches a mention of
    `username`, after the same rule as `mentioned_usernames`."""
    name = re.escape(username)
    # ARE: (^|[^\w@.+-]) before; after the name: end, or a character that cannot continue
    # a username, or dots that end the text or are followed by such a character.
    return rf"(^|[^\w@.+-])@{name}($|[^\w@+.-]|\.+($|[^\w@+-]))"
