"""Error text for people: every failure the CLI, the API and the logs report is one line."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The exception's message on one line (whitespace collapsed), at most `limit` characters;
    its type name when it has no message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:limit]
