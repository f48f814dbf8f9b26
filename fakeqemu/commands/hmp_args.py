"""HMP argument parsing shared by the commands: QEMU's get_str (one word, or a double-quoted string
with backslash escapes) and its usage errors."""

from __future__ import annotations

from fakeqemu.machine.config import IDENTIFIER

C_SPACE = " \t\n\v\f\r"


class ArgError(Exception):
    """An argument error; ``str(exc)`` is the monitor's output (CRLF line ends)."""


def usage(cmd: str) -> str:
    return f'Try "help {cmd}" for more information\r\n'


def missing(cmd: str, expected: str = "string") -> str:
    """A required argument left out (``block device name`` for a 'B' argument)."""
    return f"{cmd}: {expected} expected\r\n" + usage(cmd)


def get_str(text: str) -> tuple[str, str]:
    """QEMU's get_str: the next word (to a space), or a double-quoted string with its escapes; returns
    the word and the text after it. Raises ArgError (empty message) on an unterminated string."""
    text = text.lstrip(C_SPACE)
    if not text.startswith('"'):
        end = next((i for i, ch in enumerate(text) if ch in C_SPACE), len(text))
        return text[:end], text[end:]
    word: list[str] = []
    i = 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
            word.append({"n": "\n", "r": "\r"}.get(text[i], text[i]))
        else:
            word.append(text[i])
        i += 1
    if i >= len(text):
        raise ArgError("")  # QEMU prints "unterminated string" on its stdout
    return "".join(word), text[i + 1 :]


def one_word(cmd: str, args: str) -> str:
    """The command's single string argument ('O' or 's' type): a word or a quoted string; anything after it
    is QEMU's ``extraneous characters`` error. An empty line gives ''."""
    try:
        word, rest = get_str(args)
    except ArgError:
        raise ArgError(usage(cmd)) from None
    if rest.strip(C_SPACE):
        raise ArgError(f"{cmd}: extraneous characters at the end of line\r\n" + usage(cmd))
    return word


def valid_id(text: str) -> bool:
    """id_wellformed: a letter, then letters, digits, '-', '.', '_'."""
    return IDENTIFIER.fullmatch(text) is not None
