"""Finite sets of digit strings, built from regexes, combined exactly, and written back as a portable regex.

libphonenumber decides validity with several regexes and rules between them (a number must match the
general description AND a type pattern, within the lengths each lists; the first region of a calling code
that claims a number decides it). A single regex for "valid" needs intersection and difference, which RE2
cannot express. Every libphonenumber pattern describes a finite set of digit strings (bounded repetition
only), so the sets are held here as minimal acyclic automata: a node is (accepts here, ten children),
hash-consed so equal sets are one node. Union, intersection and difference are then exact, and the result is
written out in the syntax DuckDB, Spark (Java) and RE2 share: literal digits, [..] classes, {n}, ?, (?:..)
and |. [0-9] is written instead of \\d because Python's \\d also matches non-ASCII digits, which the library
would rewrite.
"""
from __future__ import annotations

import re
import re._constants as C
import re._parser as sre_parse  # the parser `re` itself uses; its AST is what is walked below

DIGITS = range(10)
_NO_CHILDREN = (0,) * 10


class DigitLanguages:
    """A store of nodes; node 0 is the empty set, node 1 the set holding only the empty string."""

    def __init__(self) -> None:
        self._nodes: list[tuple[bool, tuple[int, ...]]] = [(False, _NO_CHILDREN), (True, _NO_CHILDREN)]
        self._ids: dict[tuple[bool, tuple[int, ...]], int] = {node: i for i, node in enumerate(self._nodes)}
        self._memo: dict[tuple, int] = {}
        self._text: dict[int, str] = {}

    EMPTY = 0
    EPSILON = 1

    def node(self, final: bool, children: tuple[int, ...]) -> int:
        key = (final, children)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._nodes)
            self._nodes.append(key)
        return found

    def accepts_empty(self, a: int) -> bool:
        return self._nodes[a][0]

    # -- set operations ------------------------------------------------------------------------------------
    def _combine(self, op: str, a: int, b: int) -> int:
        key = (op, a, b)
        if key in self._memo:
            return self._memo[key]
        fa, ca = self._nodes[a]
        fb, cb = self._nodes[b]
        both = [self._combine(op, x, y) if x and y else None for x, y in zip(ca, cb)]
        if op == "|":
            either = (z if z is not None else x or y for z, x, y in zip(both, ca, cb))
            result = self.node(fa or fb, tuple(either))
        elif op == "&":
            result = self.node(fa and fb, tuple(z or 0 for z in both))
        else:  # difference
            result = self.node(fa and not fb, tuple(z if z is not None else x for z, x in zip(both, ca)))
        self._memo[key] = result
        return result

    def union(self, *sets: int) -> int:
        result = self.EMPTY
        for s in sets:
            result = self._combine("|", result, s)
        return result

    def intersection(self, a: int, b: int) -> int:
        return self._combine("&", a, b)

    def difference(self, a: int, b: int) -> int:
        return self._combine("-", a, b)

    def of_lengths(self, lengths) -> int:
        """Every digit string whose length is in `lengths`."""
        lengths = set(lengths)
        result = self.EMPTY
        for depth in range(max(lengths, default=-1), -1, -1):
            result = self.node(depth in lengths, (result,) * 10 if result else _NO_CHILDREN)
        return result

    def concat(self, a: int, b: int) -> int:
        """Every string of `a` followed by a string of `b`."""
        key = ("concat", a, b)
        if key in self._memo:
            return self._memo[key]
        final, children = self._nodes[a]
        result = self.node(False, tuple(self.concat(c, b) if c else 0 for c in children))
        if final:
            result = self.union(b, result)
        self._memo[key] = result
        return result

    def with_prefix(self, prefixes: int, max_length: int) -> int:
        """Strings of at most `max_length` digits that begin with a member of `prefixes`."""
        return self._concat_any(prefixes, max_length)

    def _concat_any(self, a: int, budget: int) -> int:
        key = ("prefix", a, budget)
        if key in self._memo:
            return self._memo[key]
        final, children = self._nodes[a]
        if final:
            result = self.of_lengths(range(budget + 1))
        elif budget == 0:
            result = self.EMPTY
        else:
            result = self.node(False, tuple(self._concat_any(c, budget - 1) if c else 0 for c in children))
        self._memo[key] = result
        return result

    def contains(self, a: int, digits: str) -> bool:
        for ch in digits:
            a = self._nodes[a][1][int(ch)]
            if not a:
                return False
        return self._nodes[a][0]

    # -- from a regex ----------------------------------------------------------------------------------------
    def from_regex(self, pattern: str) -> int:
        """The digit strings `pattern` fully matches (as re.fullmatch would, on ASCII digits)."""
        return self._sequence(list(sre_parse.parse(pattern)), self.EPSILON)

    def _sequence(self, items, rest: int) -> int:
        for op, arg in reversed(items):
            rest = self._item(op, arg, rest)
        return rest

    def _item(self, op, arg, rest: int) -> int:
        if op is C.LITERAL:
            digit = arg - ord("0")
            return self._step(range(digit, digit + 1) if 0 <= digit <= 9 else (), rest)
        if op is C.IN:
            return self._step(_class_digits(arg), rest)
        if op is C.BRANCH:
            return self.union(*(self._sequence(list(alt), rest) for alt in arg[1]))
        if op is C.SUBPATTERN:
            return self._sequence(list(arg[3]), rest)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, high, sub = arg
            if high is C.MAXREPEAT:
                raise ValueError("unbounded repetition: the set of strings would not be finite")
            result = rest
            for _ in range(high - low):
                result = self.union(rest, self._sequence(list(sub), result))
            for _ in range(low):
                result = self._sequence(list(sub), result)
            return result
        if op is C.AT and arg in (C.AT_END, C.AT_END_STRING):
            return self.EPSILON if self.accepts_empty(rest) else self.EMPTY
        if op is C.AT and arg in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
            return rest
        raise ValueError(f"regex construct {op} is not supported for digit sets")

    def _step(self, digits, rest: int) -> int:
        if not rest:
            return self.EMPTY
        chosen = set(digits)
        return self.node(False, tuple(rest if d in chosen else 0 for d in DIGITS))

    # -- back to a regex -------------------------------------------------------------------------------------
    def to_regex(self, a: int) -> str:
        """A regex matching exactly the set `a` (which must not be empty)."""
        if not a:
            raise ValueError("the empty set has no regex")
        return self._regex(a)

    def _regex(self, a: int) -> str:
        if a in self._text:
            return self._text[a]
        final, children = self._nodes[a]
        # Single-path chains ("[2-9][0-9][0-9]...") are written with {n} to keep the pattern short.
        classes: list[str] = []
        node = a
        while True:
            node_final, node_children = self._nodes[node]
            targets = {c for c in node_children if c}
            if node_final or len(targets) != 1:
                break
            (target,) = targets
            classes.append(_class_text([d for d in DIGITS if node_children[d] == target]))
            node = target
        shared = None if classes or not any(children) else self._shared_tail(a)
        if classes:
            text = _run_length(classes) + self._regex(node)
        elif not any(children):
            text = ""
        elif shared is not None:
            head, tail = shared
            text = self._regex(head) + self._regex(tail)
        else:
            by_child: dict[int, list[int]] = {}
            for d in DIGITS:
                if children[d]:
                    by_child.setdefault(children[d], []).append(d)
            groups = sorted(by_child.items(), key=lambda kv: kv[1])
            terms = [_class_text(digits) + self._regex(child) for child, digits in groups]
            text = "(?:" + "|".join(terms) + ")" + ("?" if final else "")
        self._text[a] = text
        return text


    def _shared_tail(self, a: int) -> tuple[int, int] | None:
        """(head, tail) with a == head . tail and tail not the empty string, when every string of `a` ends in
        the same sub-automaton: "(?:20[1-35-9]|21[02-9])[2-9][0-9]{6}", not "[2-9][0-9]{6}" after each."""
        node = a
        while True:
            final, children = self._nodes[node]
            if final:
                return None
            node = next(c for c in children if c)
            if node == self.EPSILON:
                return None
            # Nodes are trimmed (every node but EMPTY accepts something), so a == cut . tail exactly when no
            # accepting path of `a` avoids `tail`.
            if not self._avoids(a, node):
                return self._cut(a, node), node

    def _avoids(self, a: int, tail: int) -> bool:
        """Some accepting path from `a` does not pass through `tail`."""
        if a == tail or not a:
            return False
        key = ("avoids", a, tail)
        if key not in self._memo:
            final, children = self._nodes[a]
            self._memo[key] = final or any(self._avoids(c, tail) for c in children if c)
        return self._memo[key]

    def _cut(self, a: int, tail: int) -> int:
        """`a` with the sub-automaton `tail` replaced by the empty string."""
        if a == tail:
            return self.EPSILON
        key = ("cut", a, tail)
        if key not in self._memo:
            final, children = self._nodes[a]
            self._memo[key] = self.node(final, tuple(self._cut(c, tail) if c else 0 for c in children))
        return self._memo[key]


def _class_digits(entries) -> list[int]:
    chosen: set[int] = set()
    negate = False
    for op, arg in entries:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            chosen.add(arg - ord("0"))
        elif op is C.RANGE:
            chosen.update(range(arg[0] - ord("0"), arg[1] - ord("0") + 1))
        elif op is C.CATEGORY and arg is C.CATEGORY_DIGIT:
            chosen.update(DIGITS)
        else:
            raise ValueError(f"character class entry {op} is not supported for digit sets")
    chosen &= set(DIGITS)
    return [d for d in DIGITS if (d in chosen) != negate]


def _class_text(digits: list[int]) -> str:
    if len(digits) == 1:
        return str(digits[0])
    runs: list[str] = []
    start = prev = digits[0]
    for d in digits[1:] + [None]:
        if d is not None and d == prev + 1:
            prev = d
            continue
        if start == prev:
            runs.append(str(start))
        else:
            runs.append(f"{start}{prev}" if prev == start + 1 else f"{start}-{prev}")
        if d is not None:
            start = prev = d
    return "[" + "".join(runs) + "]"


def _run_length(classes: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(classes):
        j = i
        while j < len(classes) and classes[j] == classes[i]:
            j += 1
        out.append(classes[i] + (f"{{{j - i}}}" if j - i > 1 else ""))
        i = j
    return "".join(out)


def is_portable(pattern: str) -> bool:
    """Only constructs DuckDB, Spark (Java) and RE2 read the same way: digits, +, [..], {n}, ?, (?:..), |."""
    return re.fullmatch(r"(?:\\\+|[0-9|?]|\[[0-9-]+\]|\{[0-9]+\}|\(\?:|\))*", pattern) is not None
