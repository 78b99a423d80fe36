"""What an operation of the script sandbox will cost, said before it runs.

A single C-level operation (comparing two lists, ``str()`` of a nested value, ``%``
formatting with a width taken from the data, repeating a sequence) can cost seconds
or gigabytes while the interpreter counts it as one step. The sandbox asks these
functions first and refuses an operation whose predicted size or work is over its
budget, so nothing is ever allocated to find out.

Every walk here is bounded: it stops as soon as its running total passes ``cap``
(a value that contains itself never ends its walk otherwise) and calls ``tick``
every few thousand items, so a CPU deadline is checked during the walk too.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TICK_EVERY = 1024
# repr() escapes a character into at most 10 ("\U0001f600" unprintable forms).
ESCAPE_FACTOR = 10


def _no_tick() -> None:
    return None


def footprint(value: Any, cap: int, tick: Callable[[], None] = _no_tick, *, per_char: int = 1) -> int:
    """Roughly the bytes ``value`` holds, counting a value shared in several places once per
    place: the work a deep operation (compare, hash, ``str``, sort, JSON) does on it. Every
    item costs at least a pointer, so the walk visits at most ``cap / 8`` items; it stops,
    returning more than ``cap``, as soon as that is sure (a value that contains itself
    would never end its walk otherwise)."""
    total = 0
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen % TICK_EVERY == 0:
            tick()
        if isinstance(item, str):
            total += 49 + per_char * len(item)
        elif isinstance(item, bool) or item is None:
            total += 8
        elif isinstance(item, int):
            total += 28 + item.bit_length() // 8
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, dict):
            total += 232 + 64 * len(item)
            if total > cap:
                return total
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 56 + 8 * len(item)
            if total > cap:
                return total
            stack.extend(item)
        else:  # dates and the like that SpiffWorkflow puts in a context: small, fixed sizes
            total += 64
        if total > cap:
            return total
    return total


def repr_bound(value: Any, cap: int, tick: Callable[[], None] = _no_tick) -> int:
    """An upper bound on ``len(str(value))`` / ``len(repr(value))`` (every reprs is shorter than
    the bytes its value holds, once characters are counted as escaped)."""
    if isinstance(value, str):
        return len(value) * ESCAPE_FACTOR + 2
    return footprint(value, cap, tick, per_char=ESCAPE_FACTOR)


def shallow_bytes(value: Any) -> int:
    """What allocating ``value`` itself costs (its contents are counted where they are made)."""
    if isinstance(value, str):
        return 49 + 4 * len(value)  # 4 bytes a character at worst (UCS-4)
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return 28 + value.bit_length() // 8
    if isinstance(value, (list, tuple)):
        return 56 + 8 * len(value)
    if isinstance(value, (dict, set, frozenset)):
        return 232 + 64 * len(value)
    return 64


# printf-style conversion: %[(key)][flags][width][.precision][length]type
_SPEC = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?"
                   r"(?P<type>[diouxXeEfFgGcrsa%])")


class FormatTooLarge(Exception):
    """The format asks for more characters than the caller allows (raised before any is made)."""


def format_bound(template: str, args: Any, cap: int, tick: Callable[[], None] = _no_tick) -> int:
    """An upper bound on ``len(template % args)``, read from the conversions' widths,
    precisions and arguments; raises FormatTooLarge as soon as it passes ``cap``. A template
    Python would refuse is left for ``%`` itself to refuse (it fails before allocating)."""
    values = list(args) if isinstance(args, tuple) else [args]
    position = 0
    total = len(template)

    def take() -> Any:
        nonlocal position
        item = values[position] if position < len(values) else 0
        position += 1
        return item

    for match in _SPEC.finditer(template):
        kind = match["type"]
        if kind == "%":
            continue
        width = match["width"]
        width_value = take() if width == "*" else int(width or 0)
        precision = match["precision"]
        precision_value = take() if precision == "*" else int(precision or 0)
        if match["key"] is not None:
            value = args.get(match["key"]) if isinstance(args, dict) else None
        else:
            value = take()
        size = _number(width_value) + _number(precision_value)
        if kind in "rsa":
            size += repr_bound(value, cap, tick)
        elif kind == "c":
            size += 1
        elif isinstance(value, int) and not isinstance(value, bool):
            size += value.bit_length() + 4  # binary digits bound every base's
        else:
            size += 330  # a float's widest %f (1e308 written out) plus sign and point
        total += size
        if total > cap:
            raise FormatTooLarge(total)
    return total


def _number(value: Any) -> int:
    return abs(value) if isinstance(value, int) and not isinstance(value, bool) else 0
