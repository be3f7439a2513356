"""A small Lua 5.1 tokenizer for the preflight's static scans: names, strings, numbers and
operators with their line numbers; comments dropped. Enough to find ``require "x"``,
``ngx.shared.NAME`` and calls such as ``os.execute`` without mistaking text in strings or
comments for code."""
from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset("and break do else elseif end false for function goto if in local nil not or repeat "
                     "return then true until while".split())
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?|\d*\.?\d+(?:[eE][+-]?\d+)?(?:ULL|LL|i)?")
_LONG_OPEN = re.compile(r"\[(=*)\[")
_OPS = ("...", "..", "==", "~=", "<=", ">=", "::")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "\n": "\n", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}


@dataclass(frozen=True)
class Token:
    kind: str  # name, keyword, string, number, op
    value: str
    line: int  # 1-based, in the chunk


class LuaTokenError(ValueError):
    """Unterminated string or comment (luacheck reports the syntax error; scans stop there)."""


def tokenize(text: str, brace_stop: bool = False) -> tuple[list[Token], int]:
    """Tokens of ``text``; with ``brace_stop``, stop at the ``}`` that closes an implicit ``{``
    before the text (an nginx ``*_by_lua_block``). Returns the tokens and where scanning ended."""
    tokens: list[Token] = []
    i, line, depth, n = 0, 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch in " \t\r\f\v":
            i += 1
        elif text.startswith("--", i):
            long = _LONG_OPEN.match(text, i + 2)
            if long:
                end = text.find("]" + long.group(1) + "]", long.end())
                if end < 0:
                    raise LuaTokenError(f"line {line}: unterminated long comment")
                line += text.count("\n", i, end)
                i = end + len(long.group(1)) + 2
            else:
                end = text.find("\n", i)
                i = n if end < 0 else end
        elif ch in "\"'":
            value, j = [], i + 1
            while j < n and text[j] != ch:
                if text[j] == "\n":
                    raise LuaTokenError(f"line {line}: unfinished string")
                if text[j] == "\\" and j + 1 < n:
                    value.append(_ESCAPES.get(text[j + 1], text[j + 1]))
                    line += text[j + 1] == "\n"
                    j += 2
                    continue
                value.append(text[j])
                j += 1
            if j >= n:
                raise LuaTokenError(f"line {line}: unfinished string")
            tokens.append(Token("string", "".join(value), line))
            i = j + 1
        elif ch == "[" and _LONG_OPEN.match(text, i):
            long = _LONG_OPEN.match(text, i)
            assert long is not None
            end = text.find("]" + long.group(1) + "]", long.end())
            if end < 0:
                raise LuaTokenError(f"line {line}: unfinished long string")
            body = text[long.end():end]
            tokens.append(Token("string", body[1:] if body.startswith("\n") else body, line))
            line += body.count("\n")
            i = end + len(long.group(1)) + 2
        elif ch.isalpha() or ch == "_":
            m = _NAME.match(text, i)
            assert m is not None
            word = m.group(0)
            tokens.append(Token("keyword" if word in KEYWORDS else "name", word, line))
            i = m.end()
        elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            end = m.end() if m and m.end() > i else i + 1
            tokens.append(Token("number", text[i:end], line))
            i = end
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), ch)
            if brace_stop and op == "{":
                depth += 1
            elif brace_stop and op == "}":
                if depth == 0:
                    return tokens, i
                depth -= 1
            tokens.append(Token("op", op, line))
            i += len(op)
    return tokens, i


def is_op(token: Token, value: str) -> bool:
    return token.kind == "op" and token.value == value


def dotted(tokens: list[Token], index: int) -> tuple[str, int]:
    """The dotted name starting at ``tokens[index]`` (``ngx.shared.cache``) and the index after it."""
    if index >= len(tokens) or tokens[index].kind != "name":
        return "", index
    parts, j = [tokens[index].value], index + 1
    while j + 1 < len(tokens) and is_op(tokens[j], ".") and tokens[j + 1].kind == "name":
        parts.append(tokens[j + 1].value)
        j += 2
    return ".".join(parts), j
