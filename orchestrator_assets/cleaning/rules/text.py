"""Rules on text as text: whitespace, blanks, letter case, a closed list of values."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..frame import as_bool, changed
from .base import NULL_OR_QUARANTINE, Rule

# Unicode's White_Space characters: what Arrow's utf8_trim_whitespace (the pandas implementation) strips.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def title_case(values: pa.Array) -> pa.Array:
    """Arrow's title-casing in every engine: SQL's initcap splits words differently ("O'brien")."""
    return pc.utf8_title(values)


class Trim(Rule):
    id = "trim"
    checks = "no leading/trailing whitespace (any Unicode White_Space: space, tab, newline, NBSP, ...)"
    repair = "strip it"
    on_failure = "never fails"

    def pandas(self, t, col, step, s):
        new = s.str.strip()
        t.stats.add(self.id, col.name, "repaired", changed(s, new))
        return new

    def sql(self, b, col, step, s, stage):
        new = b.aux(0, b.d.strip(s, WHITESPACE))
        b.repaired(stage, self.id, col.name, b.changed(s, new))
        return new


class BlankToNull(Rule):
    id = "blank_to_null"
    checks = "text is not empty"
    repair = "empty or blank text becomes null"
    on_failure = "never fails"

    def pandas(self, t, col, step, s):
        t.stats.add(self.id, col.name, "repaired", int(as_bool(s == "").sum()))
        return s.mask(s == "")

    def sql(self, b, col, step, s, stage):
        b.repaired(stage, self.id, col.name, f"{s} = ''")
        return f"CASE WHEN {s} = '' THEN NULL ELSE {s} END"


class CaseFold(Rule):
    id = "case_fold"
    checks = "letter case matches the column's canonical case"
    repair = "lower/upper/title-case; 'proper' title-cases only ALL-UPPER or all-lower text"
    on_failure = "never fails"
    decided_by = "Arrow's Unicode case mapping (utf8_lower/upper/title)"

    def pandas(self, t, col, step, s):
        case = step.params["case"]
        if case == "proper":
            uniform = as_bool((s == s.str.upper()) | (s == s.str.lower()))
            new = s.where(~uniform, s.str.title())
        else:
            new = getattr(s.str, case)()
        t.stats.add(self.id, col.name, "repaired", changed(s, new))
        return new

    def sql(self, b, col, step, s, stage):
        case = step.params["case"]
        title = b.udf("title_case", title_case, "text")
        if case == "proper":
            new = f"CASE WHEN {s} = upper({s}) OR {s} = lower({s}) THEN {title}({s}) ELSE {s} END"
        else:
            new = f"{title}({s})" if case == "title" else f"{case}({s})"
        new = b.aux(0, new)
        b.repaired(stage, self.id, col.name, b.changed(s, new))
        return new


class AcceptedValues(Rule):
    id = "accepted_values"
    checks = "value is one of the spec's choices (after case folding)"
    repair = "none"
    on_failure = NULL_OR_QUARANTINE

    def pandas(self, t, col, step, s):
        values = step.params["values"]
        bad = as_bool(s.notna() & ~s.isin(values))
        return t.invalid(col, step, s, bad, f"{col.name} is not one of {values}")

    def sql(self, b, col, step, s, stage):
        values = step.params["values"]
        listed = ", ".join(b.d.lit(v) for v in values)
        return b.invalid(stage, col, step, s, f"{s} IS NOT NULL AND {s} NOT IN ({listed})",
                         f"{col.name} is not one of {values}")


RULES = [Trim(), BlankToNull(), CaseFold(), AcceptedValues()]
