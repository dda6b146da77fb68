"""Substitute values into a bash command template so that no value can leave its place.

MLflow pastes `shlex.quote(value)` wherever `{name}` stands. That is right for a bare
placeholder, but a placeholder the author wrote inside quotes (`"{x}"`, `'{x}'`) gets a quoted
value whose quotes close the author's, and the rest of the value runs as shell code. Here the
template is scanned the way bash reads it, and each value is written for the quoting context
its placeholder stands in:

- bare (also inside `$(...)`, `(...)`, `<(...)`): `shlex.quote`, exactly as MLflow does;
- inside `"..."` or `$"..."`: `\\`, `$`, `` ` `` and `"` are backslash-escaped;
- inside `'...'`: each `'` becomes `'\\''`;
- inside `$'...'`: `\\` and `'` are backslash-escaped;
- inside a `#` comment: line breaks become spaces (the value reaches no program).

Places where no quoting is safe are refused with a `SpecError`: inside backquotes, `${...}`,
`$((...))`, after a here-document operator or a `case` inside `$(...)`, and directly after an
unescaped `$` or `\\`::

    >>> render_template('echo "{x}" {x}', {"x": 'a"; rm -rf ~; "'})
    'echo "a\\\\"; rm -rf ~; \\\\"" \\'a"; rm -rf ~; "\\''
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from stepline.errors import SpecError

# Frame kinds of the scanner's stack; the bottom frame is always "bare".
_BARE, _PAREN, _COMMENT = "bare", "paren", "comment"
_DOUBLE, _SINGLE, _ANSI = "double", "single", "ansi"
_BACKTICK, _BRACE, _ARITH, _BRACKET = "backtick", "brace", "arith", "bracket"
_UNSAFE = {
    _BACKTICK: "inside backquotes (write $(...) instead)",
    _BRACE: "inside ${...}",
    _ARITH: "inside an arithmetic ((...)), where bash evaluates values as code",
    _BRACKET: "inside $[...], where bash evaluates values as code",
}
_WORD_BREAK = set(" \t\n;&|()<>")


@dataclass
class _Frame:
    kind: str
    depth: int = 0  # open "(" inside a paren or arith frame


@dataclass
class _Scanner:
    """Bash's quoting state after each piece of literal template text."""

    stack: list[_Frame] = field(default_factory=lambda: [_Frame(_BARE)])
    escape: bool = False  # the last character was an unescaped backslash
    dollar: bool = False  # the last character was an unescaped $
    heredoc: bool = False  # a << operator was seen: its body cannot be quoted into
    prev: str = ""  # the previous character in the current frame ("" at a frame's start)
    word: str = ""  # the unquoted word being read in a bare or paren frame
    lost: bool = False  # a `case` inside $(...): its `pat)` hides where the $( ends

    @property
    def kind(self) -> str:
        return self.stack[-1].kind

    def push(self, kind: str) -> None:
        self.stack.append(_Frame(kind))
        self.prev = ""
        self.word = ""

    def pop(self, prev: str = "x") -> None:
        if len(self.stack) > 1:
            self.stack.pop()
        self.prev = prev
        self.word = ""

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            i = self._step(text, i)

    def _step(self, text: str, i: int) -> int:
        c = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        kind = self.kind
        was_dollar, self.dollar = self.dollar, False
        if self.escape:
            self.escape = False
            self.prev = "x"
            return i + 1
        if kind == _SINGLE:
            if c == "'":
                self.pop()
            return i + 1
        if kind == _ANSI:
            if c == "\\":
                self.escape = True
            elif c == "'":
                self.pop()
            return i + 1
        if kind == _COMMENT:
            if c == "\n":
                self.pop("\n")
            return i + 1
        if c == "\\":
            self.escape = True
            return i + 1
        if kind == _BACKTICK and c == "`":
            self.pop()
            return i + 1
        if kind == _DOUBLE and c == '"':
            self.pop()
            return i + 1
        if (kind == _BRACE and c == "}") or (kind == _BRACKET and c == "]"):
            self.pop()
            return i + 1
        if c == "$":
            return self._dollar(text, i, nxt)
        if c == "`":
            self.push(_BACKTICK)
            return i + 1
        if kind == _DOUBLE:
            self.prev = c
            return i + 1
        # bare, paren, brace, arith and backtick frames read the rest like unquoted text
        if c == "'":
            self.push(_SINGLE)
        elif c == '"':
            self.push(_DOUBLE)
        elif (
            c == "#"
            and kind in (_BARE, _PAREN)
            and (self.prev == "" or self.prev in _WORD_BREAK)
            and not was_dollar
        ):
            self.push(_COMMENT)
        elif c == "(":
            if kind in (_PAREN, _ARITH):
                self.stack[-1].depth += 1
            elif nxt == "(":
                self.push(_ARITH)
                return i + 2
            else:
                self.push(_PAREN)
            self.prev = "("
        elif c == ")" and kind in (_PAREN, _ARITH):
            frame = self.stack[-1]
            if frame.depth > 0:
                frame.depth -= 1
                self.prev = ")"
            elif kind == _ARITH and nxt == ")":
                self.pop(")")
                return i + 2
            else:
                self.pop(")")
        elif c == "<" and nxt == "<":
            self.prev = "<"
            if text[i + 2 : i + 3] == "<":  # a here-string is an ordinary word
                return i + 3
            self.heredoc = True
            return i + 2
        else:
            self.prev = c
            self.word = "" if c in _WORD_BREAK else self.word + c
            if (
                self.word == "case"
                and (nxt == "" or nxt in _WORD_BREAK)
                and any(f.kind == _PAREN for f in self.stack)
            ):
                self.lost = True
        return i + 1

    def _dollar(self, text: str, i: int, nxt: str) -> int:
        if nxt == "'" and self.kind != _DOUBLE:
            self.push(_ANSI)
            return i + 2
        if nxt == '"' and self.kind != _DOUBLE:
            self.push(_DOUBLE)
            return i + 2
        if nxt == "[":
            self.push(_BRACKET)
            return i + 2
        if nxt == "{":
            self.push(_BRACE)
            return i + 2
        if nxt == "(":
            if text[i + 2 : i + 3] == "(":
                self.push(_ARITH)
                return i + 3
            self.push(_PAREN)
            return i + 2
        self.dollar = True
        self.prev = "$"
        return i + 1

    def unsafe_reason(self) -> str | None:
        """Why no value can be placed here, or None."""
        if self.escape:
            return "directly after a backslash (the backslash would escape the value)"
        if self.dollar and self.kind in (_BARE, _PAREN, _DOUBLE):
            return "directly after '$' (write $ and {name} apart, or ${{VAR}} for a variable)"
        if self.heredoc:
            return "after a here-document (<<), whose body cannot be quoted"
        if self.lost:
            return "after a case statement inside $(...) (move the case into a function or script)"
        for frame in self.stack:
            if frame.kind in _UNSAFE:
                return _UNSAFE[frame.kind]
        return None

    def quote(self, value: str) -> str:
        """`value` written so that bash reads it back unchanged at the current position."""
        kind = self.kind
        if kind == _DOUBLE:
            quoted = "".join("\\" + c if c in '\\$`"' else c for c in value)
        elif kind == _SINGLE:
            quoted = value.replace("'", "'\\''")
        elif kind == _ANSI:
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        elif kind == _COMMENT:
            quoted = value.replace("\r", " ").replace("\n", " ")
        else:
            quoted = shlex.quote(value)
        self.prev = "x"
        self.dollar = False
        return quoted

    def open_context(self) -> str | None:
        """The unterminated quote or substitution at the end of the template, if any."""
        if self.escape:
            return None
        for frame in reversed(self.stack):
            if frame.kind not in (_BARE, _COMMENT):
                return frame.kind
        return None


def render_template(
    template: str,
    values: Mapping[str, str],
    extras: Mapping[str, str] | None = None,
    label: str = "the command",
) -> str:
    """Substitute `values` (raw strings) for `{name}` placeholders, quoted for where they stand.

    `{{` and `}}` are literal braces, as in `str.format`. `extras` are appended as
    `--name 'value'` (MLflow's rule for undeclared parameters; the caller checks their names).
    An unknown placeholder, a malformed template, a placeholder where no quoting is safe, or a
    template that ends inside open quotes raises `SpecError` naming `label`.
    """
    scanner = _Scanner()
    out: list[str] = []
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SpecError(
            f"{label}: the command is not a valid template ({exc}); "
            "placeholders are {name}, literal braces are {{ and }}"
        ) from None
    for literal, name, spec, conversion in pieces:
        out.append(literal)
        scanner.feed(literal)
        if name is not None:
            out.append(_placeholder(scanner, values, name, spec, conversion, label))
    still_open = scanner.open_context()
    if still_open is not None:
        raise SpecError(
            f"{label}: the command ends inside an unterminated {still_open} context; "
            "close every quote, $( and ${ so that no value is pasted into it"
        )
    command = "".join(out)
    if not extras:
        return command
    if scanner.kind == _COMMENT:
        raise SpecError(
            f"{label}: the command ends in a # comment, so the undeclared parameters "
            f"({', '.join(extras)}) would be commented out; end the comment with a new line "
            "or declare the parameters"
        )
    appended = [f"--{k} {shlex.quote(v)}" for k, v in extras.items()]
    return " ".join([command.rstrip(), *appended])


def _placeholder(
    scanner: _Scanner,
    values: Mapping[str, str],
    name: str,
    spec: str | None,
    conversion: str | None,
    label: str,
) -> str:
    if name not in values:
        raise SpecError(
            f"{label}: the command uses {{{name}}}, which is not a declared parameter; "
            f"declared: {', '.join(values) or 'none'} (write {{{{ and }}}} for literal braces)"
        )
    reason = scanner.unsafe_reason()
    if reason is not None:
        raise SpecError(
            f"{label}: placeholder {{{name}}} stands {reason}; no quoting keeps a value "
            "there from running as shell code. Place it bare, or inside '...' or \"...\""
        )
    value = values[name]
    if conversion == "r":
        value = repr(value)
    elif conversion == "a":
        value = ascii(value)
    if spec:
        try:
            value = format(value, spec)
        except ValueError as exc:
            raise SpecError(f"{label}: placeholder {{{name}:{spec}}}: {exc}") from None
    return scanner.quote(value)
