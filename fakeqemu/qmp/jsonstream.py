"""QMP's input parser, as QEMU 7.2's qobject/json-lexer.c, json-streamer.c and json-parser.c behave.

Rules:

1. A lexer turns bytes into tokens: ``{ } [ ] : ,``, strings in double *or single* quotes, numbers,
   and keywords ``[a-z]+``. Whitespace is space, tab, CR, LF. Any other byte where a token may start,
   or a byte that cannot continue the token in progress, is an error: "JSON parse error, stray '<the
   token so far, that byte included>'". After an error the lexer skips input up to the next structural
   character, control character or 0xFE/0xFF byte.
2. The streamer counts braces and brackets; when both counts are back to zero (or below), the tokens
   gathered form one message and are parsed. A lexer error drops the tokens gathered so far. Limits:
   64 MiB of tokens per message, 2 Mi tokens, nesting depth 1024.
3. The parser is QEMU's recursive descent, run on an explicit stack (no Python recursion), with QEMU's
   messages ("expecting value", "missing : in object pair", "duplicate key", "invalid keyword 'x'", ...).
   Strings are modified UTF-8: ``\\u0000`` is allowed, surrogates and noncharacters are not. Integers that
   fit int64/uint64 stay integers, others become floats.

Fast path: a chunk that holds exactly one plain message is decoded by orjson, after checks that make
sure QEMU would read it the same way; everything else takes the exact path. The fast path is taken once
orjson is loaded (the runtime loads it: fakeqemu.server.monitor); the early answers, given while the
runtime loads (fakeqemu.server.early), take the exact path, which spares the start-up orjson's ~3 ms.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

MAX_TOKEN_SIZE = 64 << 20
MAX_TOKEN_COUNT = 2 << 20
MAX_NESTING = 1 << 10

# token types
ERROR, LCURLY, RCURLY, LSQUARE, RSQUARE, COLON, COMMA, INTEGER, FLOAT, KEYWORD, STRING = range(11)
_PUNCT = {ord("{"): LCURLY, ord("}"): RCURLY, ord("["): LSQUARE, ord("]"): RSQUARE, ord(":"): COLON, ord(","): COMMA}
_WS = frozenset(b" \t\r\n")
_STRUCT = frozenset(b"[]{}:,")

# lexer states
(
    START,
    RECOVERY,
    DQ,
    DQ_ESC,
    SQ,
    SQ_ESC,
    ZERO,
    EXP_DIGITS,
    EXP_SIGN,
    EXP_E,
    MANTISSA,
    MANTISSA_DIGITS,
    DIGITS,
    SIGN,
    KEYWORD_S,
) = range(15)

_DQ_RUN = re.compile(rb'[^"\\\x00-\x1f\xfe\xff]+')
_SQ_RUN = re.compile(rb"[^'\\\x00-\x1f\xfe\xff]+")
_KEY_COLON = re.compile(rb'"\s*:')
_DIGIT = frozenset(b"0123456789")
_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class JsonParseError:
    """A parse error, as an item of the stream: QMP answers it with GenericError ``desc``."""

    desc: str


class _ParseFailure(Exception):
    pass


def _is_valid_codepoint(cp: int) -> bool:
    if cp < 0 or cp > 0x10FFFF:
        return False
    if (cp & 0xFFFFF800) == 0xD800:
        return False
    if 0xFDD0 <= cp <= 0xFDEF:
        return False
    return (cp & 0xFFFE) != 0xFFFE


def _mod_utf8_codepoint(s: bytes, i: int, end: int) -> tuple[int, int]:
    """cutils' mod_utf8_codepoint: (code point or -1, next index)."""
    byte = s[i]
    i += 1
    if byte < 0x80:
        return byte, i
    if byte >= 0xFE or not byte & 0x40:
        return -1, i
    length = 0
    mask = 0x80
    while byte & mask:
        length += 1
        mask >>= 1
    cp = byte & (mask - 1)
    for _ in range(1, length):
        nxt = s[i] if i < end else 0
        if (nxt & 0xC0) != 0x80:
            return -1, i
        i += 1
        cp = (cp << 6) | (nxt & 0x3F)
    min_cp = (0x80, 0x800, 0x10000, 0x200000, 0x4000000)[length - 2]
    if not _is_valid_codepoint(cp) or (cp < min_cp and not (cp == 0 and length == 2)):
        return -1, i
    return cp, i


def _cvt4hex(s: bytes, i: int) -> int:
    cp = 0
    for k in range(4):
        c = s[i + k] if i + k < len(s) else 0
        if chr(c) not in "0123456789abcdefABCDEF":
            return -1
        cp = (cp << 4) | int(chr(c), 16)
    return cp


_SIMPLE_ESC = {
    ord('"'): '"',
    ord("'"): "'",
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}


def _parse_string(tok: bytes) -> str:
    quote = tok[0]
    body = tok[1:-1]
    if body.isascii() and b"\\" not in body:
        return body.decode("ascii")
    out: list[str] = []
    i, end = 1, len(tok) - 1
    while i < end:
        c = tok[i]
        if c == 0x5C:  # backslash
            beg = i
            esc = tok[i + 1]
            i += 2
            simple = _SIMPLE_ESC.get(esc)
            if simple is not None:
                out.append(simple)
            elif esc == ord("u"):
                cp = _cvt4hex(tok, i)
                i += 4
                if 0xD800 <= cp <= 0xDBFF and tok[i : i + 2] == b"\\u":
                    cp = 0x10000 + ((cp & 0x3FF) << 10)
                    trailing = _cvt4hex(tok, i + 2)
                    if 0xDC00 <= trailing <= 0xDFFF:
                        cp |= trailing & 0x3FF
                        i += 6
                    else:
                        cp = -1
                if not _is_valid_codepoint(cp):
                    text = tok[beg:i].split(b"\x00")[0].decode("utf-8", "replace")
                    raise _ParseFailure(f"{text} is not a valid Unicode character")
                out.append(chr(cp))
            else:
                raise _ParseFailure("invalid escape sequence in string")
        else:
            cp, i = _mod_utf8_codepoint(tok, i, end)
            if cp < 0:
                raise _ParseFailure("invalid UTF-8 sequence in string")
            out.append(chr(cp))
    del quote
    return "".join(out)


def _parse_number(kind: int, text: bytes) -> int | float:
    if kind == INTEGER:
        value = int(text)
        if (value >= 0 and value <= 0xFFFFFFFFFFFFFFFF) or (value < 0 and value >= -(1 << 63)):
            return value
    return float(text)


class _Parser:
    __slots__ = ("pos", "tokens")

    def __init__(self, tokens: list[tuple[int, bytes]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[int, bytes] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pop(self) -> tuple[int, bytes] | None:
        tok = self.peek()
        if tok is not None:
            self.pos += 1
        return tok

    def value(self) -> Any:
        """json-parser.c's recursive descent, run on an explicit stack (QEMU takes 1024 levels, more than
        Python's default recursion allows): the same checks in the same order, so the same first error."""
        stack: list[tuple[int, Any, str]] = []  # (what the container waits for, the container, the key)
        while True:
            tok = self.peek()
            if tok is None:
                raise _ParseFailure("premature EOI")
            kind = tok[0]
            if kind in (LCURLY, LSQUARE):
                self.pos += 1
                close = RCURLY if kind == LCURLY else RSQUARE
                container: Any = {} if kind == LCURLY else []
                peek = self.peek()
                if peek is None:
                    raise _ParseFailure("premature EOI")
                if peek[0] != close:
                    stack.append((_KEY if kind == LCURLY else _ITEM, container, ""))
                    continue  # parse the first key or element
                self.pos += 1
                result: Any = container
            else:
                result = self._scalar(tok)
            # hand the value to the containers waiting for it, closing those it completes
            while True:
                if not stack:
                    return result
                wants, container, key = stack.pop()
                if wants == _KEY:
                    if not isinstance(result, str):
                        raise _ParseFailure("key is not a string in object")
                    sep = self.pop()
                    if sep is None:
                        raise _ParseFailure("premature EOI")
                    if sep[0] != COLON:
                        raise _ParseFailure("missing : in object pair")
                    stack.append((_VALUE, container, result))
                    break
                if wants == _VALUE:
                    if key in container:
                        raise _ParseFailure("duplicate key")
                    container[key] = result
                else:
                    container.append(result)
                sep = self.pop()
                if sep is None:
                    raise _ParseFailure("premature EOI")
                if sep[0] == (RCURLY if wants == _VALUE else RSQUARE):
                    result = container
                    continue
                if sep[0] != COMMA:
                    raise _ParseFailure("expected separator in " + ("dict" if wants == _VALUE else "list"))
                if self.peek() is None:
                    raise _ParseFailure("premature EOI")
                stack.append((_KEY if wants == _VALUE else _ITEM, container, ""))
                break

    def _scalar(self, tok: tuple[int, bytes]) -> Any:
        kind, text = tok
        if kind == STRING:
            self.pos += 1
            return _parse_string(text)
        if kind in (INTEGER, FLOAT):
            self.pos += 1
            return _parse_number(kind, text)
        if kind == KEYWORD:
            self.pos += 1
            if text == b"true":
                return True
            if text == b"false":
                return False
            if text == b"null":
                return None
            raise _ParseFailure(f"invalid keyword '{text.decode('ascii', 'replace')}'")
        raise _ParseFailure("expecting value")


#: what a container on the parser's stack waits for
_KEY, _VALUE, _ITEM = range(3)


def _parse(tokens: list[tuple[int, bytes]]) -> Any:
    """Parse one message (no recursion: any depth the streamer lets through)."""
    try:
        return _Parser(tokens).value()
    except _ParseFailure as exc:
        return JsonParseError(f"JSON parse error, {exc}")


#: what a message of one stray closing bracket or brace parses to (the same every time)
_STRAY_CLOSE = {kind: _parse([(kind, text)]) for kind, text in ((RSQUARE, b"]"), (RCURLY, b"}"))}


def parse_one(text: bytes) -> Any:
    """qobject_from_json, as QEMU parses a JSON command-line option: exactly one value, with QEMU's parser
    and its error texts (``JSON parse error, premature EOI``, ``Expecting at most one JSON value``).
    Raises ValueError with the text."""
    stream = JsonStreamer()
    stream._out = []
    stream._lex(text + b" ")  # the end of input ends a keyword or number in progress, as QEMU's flush does
    items = stream._out
    if stream._tokens:
        items.append(_parse(stream._tokens))
    if not items:
        raise ValueError("Expecting a JSON value")
    if isinstance(items[0], JsonParseError):
        raise ValueError(items[0].desc)
    if len(items) > 1:  # anything after the value, even an error
        raise ValueError("Expecting at most one JSON value")
    return items[0]


def _count_keys(value: Any) -> int:
    """How many keys the objects of ``value`` have, all levels (without recursion: 1024 levels deep)."""
    count = 0
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            count += len(v)
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return count


class JsonStreamer:
    """Incremental: feed bytes, get complete messages (values or JsonParseError) in order."""

    __slots__ = ("_braces", "_brackets", "_out", "_state", "_token", "_token_size", "_tokens")

    def __init__(self) -> None:
        self._state = START
        self._token = bytearray()
        self._tokens: list[tuple[int, bytes]] = []
        self._braces = 0
        self._brackets = 0
        self._token_size = 0
        self._out: list[object] = []

    # --- streamer (json-streamer.c) -----------------------------------------------------------

    def _emit_reset(self, item: object) -> None:
        self._braces = self._brackets = 0
        self._tokens = []
        self._token_size = 0
        self._out.append(item)

    def _token_done(self, kind: int, text: bytes) -> None:
        if kind == ERROR:
            # QEMU formats the token with %s: it ends at a NUL byte
            shown = text.partition(b"\x00")[0].decode("utf-8", "replace")
            self._emit_reset(JsonParseError(f"JSON parse error, stray '{shown}'"))
            return
        if kind == LCURLY:
            self._braces += 1
        elif kind == RCURLY:
            self._braces -= 1
        elif kind == LSQUARE:
            self._brackets += 1
        elif kind == RSQUARE:
            self._brackets -= 1
        if self._token_size + len(text) + 1 > MAX_TOKEN_SIZE:
            self._emit_reset(JsonParseError("JSON token size limit exceeded"))
            return
        if len(self._tokens) + 1 > MAX_TOKEN_COUNT:
            self._emit_reset(JsonParseError("JSON token count limit exceeded"))
            return
        if self._braces + self._brackets > MAX_NESTING:
            self._emit_reset(JsonParseError("JSON nesting depth limit exceeded"))
            return
        self._tokens.append((kind, text))
        self._token_size += len(text)
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 and self._brackets >= 0:
            return
        if len(self._tokens) == 1 and kind in (RSQUARE, RCURLY):
            self._emit_reset(_STRAY_CLOSE[kind])  # 100,000 of them cost one parse each otherwise
            return
        self._emit_reset(_parse(self._tokens))

    # --- lexer (json-lexer.c) -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Tokens of the message in progress."""
        return len(self._tokens)

    def feed(self, data: bytes) -> list[object]:
        self._out = []
        if self._state == START and not self._tokens and not self._token and self._fast(data):
            return self._out
        self._lex(data)
        return self._out

    def _fast(self, data: bytes) -> bool:
        body = data.strip(b" \t\r\n")
        if len(body) > (1 << 20) or body[:1] != b"{" or body[-1:] != b"}" or not body.isascii() or b"\\u" in body:
            return False
        # loaded, and done loading: while the runtime's thread imports it, another thread (the early
        # greeter's) can find it in sys.modules without its attributes yet
        orjson = sys.modules.get("orjson")
        loads, error = getattr(orjson, "loads", None), getattr(orjson, "JSONDecodeError", None)
        if loads is None or error is None:
            return False
        try:
            value = loads(body)
        except error:
            return False
        # orjson keeps the last of duplicate keys where QEMU fails: every key of the text must survive
        if not isinstance(value, dict) or _count_keys(value) != len(_KEY_COLON.findall(body)):
            return False
        self._out.append(value)
        return True

    def _lex(self, data: bytes) -> None:
        tok = self._token
        state = self._state
        i, n = 0, len(data)
        while i < n:
            c = data[i]
            if state == START:
                if c in _WS:
                    i += 1
                    continue
                kind = _PUNCT.get(c)
                if kind is not None:
                    i += 1
                    self._token_done(kind, bytes((c,)))
                    continue
                tok.append(c)
                i += 1
                if c == 0x22:
                    state = DQ
                elif c == 0x27:
                    state = SQ
                elif c == 0x30:
                    state = ZERO
                elif c in _DIGIT:
                    state = DIGITS
                elif c == 0x2D:
                    state = SIGN
                elif c in _LOWER:
                    state = KEYWORD_S
                else:
                    state = self._error(tok)
                continue
            if state == RECOVERY:
                if (c < 0x20 and c != 0x09) or c >= 0xFE or c in _STRUCT:
                    state = START  # lookahead: this byte is lexed again from START
                else:
                    i += 1
                continue
            if state in (DQ, SQ):
                m = (_DQ_RUN if state == DQ else _SQ_RUN).match(data, i)
                if m is not None:
                    tok += m.group()
                    i = m.end()
                    if len(tok) > MAX_TOKEN_SIZE:
                        state = self._too_long(tok)
                    continue
                i += 1
                tok.append(c)
                if c == (0x22 if state == DQ else 0x27):
                    self._token_done(STRING, bytes(tok))
                    tok.clear()
                    state = START
                elif c == 0x5C:
                    state = DQ_ESC if state == DQ else SQ_ESC
                else:
                    state = self._error(tok)
                continue
            if state in (DQ_ESC, SQ_ESC):
                tok.append(c)
                i += 1
                state = (DQ if state == DQ_ESC else SQ) if 0x20 <= c <= 0xFD else self._error(tok)
                continue
            # numbers and keywords: lookahead terminals
            nxt = _number_step(state, c)
            if nxt is None:  # terminal: the token ends before this byte
                kind = KEYWORD if state == KEYWORD_S else (INTEGER if state in (ZERO, DIGITS) else FLOAT)
                self._token_done(kind, bytes(tok))
                tok.clear()
                state = START
                continue
            tok.append(c)
            i += 1
            state = nxt if nxt >= 0 else self._error(tok)
        self._state = state

    def _error(self, tok: bytearray) -> int:
        self._token_done(ERROR, bytes(tok))
        tok.clear()
        return RECOVERY

    def _too_long(self, tok: bytearray) -> int:
        self._emit_reset(JsonParseError("JSON token size limit exceeded"))
        tok.clear()
        return START


def _number_step(state: int, c: int) -> int | None:
    """Next state for number/keyword states: a state, -1 for an error, None for 'token ends here'."""
    digit = c in _DIGIT
    if state == KEYWORD_S:
        return KEYWORD_S if c in _LOWER else None
    if state == ZERO:
        if digit:
            return -1
        return MANTISSA if c == 0x2E else None
    if state == DIGITS:
        if digit:
            return DIGITS
        if c in (0x65, 0x45):
            return EXP_E
        return MANTISSA if c == 0x2E else None
    if state == SIGN:
        if c == 0x30:
            return ZERO
        return DIGITS if digit else -1
    if state == MANTISSA:
        return MANTISSA_DIGITS if digit else -1
    if state == MANTISSA_DIGITS:
        if digit:
            return MANTISSA_DIGITS
        return EXP_E if c in (0x65, 0x45) else None
    if state == EXP_E:
        if c in (0x2B, 0x2D):
            return EXP_SIGN
        return EXP_DIGITS if digit else -1
    if state == EXP_SIGN:
        return EXP_DIGITS if digit else -1
    if state == EXP_DIGITS:
        return EXP_DIGITS if digit else None
    raise AssertionError(state)
