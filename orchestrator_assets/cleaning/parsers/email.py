"""E-mail addresses, decided by email_validator (syntax only, no DNS), and a fast-path regex.

parse_email(text) -> (canonical, None) or (None, problem). Canonical is the library's normalized address (NFC,
domain lower-cased, IDN domains in Unicode form: "user@xn--bcher-kva.de" -> "user@bücher.de"), then the whole
address lower-cased, local part included: mailbox names are case-sensitive by the RFC, but no mainstream
provider treats them so and a case-sensitive key splits one customer in two. Internationalised local parts
(SMTPUTF8) are accepted. "Ann Lee <ann@x.com>" and a leading "mailto:" are unwrapped.

What the library rejects stays rejected, notably: quoted local parts ('"ann lee"@x.com') and bracketed IP
domains (its defaults), dot-rule errors, a domain without a period, and special-use domains (.arpa, .invalid,
.local, .localhost, .onion, .test). example.com/.org/.net and the .example TLD are accepted by the library and
so here: they are syntactically valid, and test data uses them. What the library accepts is kept as it
normalises it, even where a person would hesitate: a local part of more than 64 characters (it checks that
only in strict mode), full-width letters in a local part ("ａnn@x.com": NFC keeps them). CANONICAL is
stricter on both.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import email_validator
from email_validator import EmailNotValidError, validate_email

NOT_VALID = "is not a valid e-mail address"
SEVERAL = "holds more than one e-mail address"
SPECIAL_USE = "has a special-use domain that cannot receive mail"
PROBLEMS = (NOT_VALID, SEVERAL, SPECIAL_USE)

_MAILTO = re.compile(r"mailto:\s*", re.IGNORECASE)
_SPECIAL_USE_TLDS = sorted({name.rsplit(".", 1)[-1] for name in email_validator.SPECIAL_USE_DOMAIN_NAMES})


def parse_email(text: str) -> tuple[str | None, str | None]:
    """`text` (trimmed, non-empty) as a canonical lower-case address."""
    if _known_good(text):
        return text, None
    address = _MAILTO.sub("", text, count=1) if _MAILTO.match(text) else text
    canonical = _canonical(address)
    if canonical is not None and canonical != text:
        # Lower-casing can un-normalise (e.g. "İ" lowers to "i" + a combining dot); the canonical form must
        # read back as itself, so it is put through the library once more.
        again = _canonical(canonical)
        canonical = again if again is not None and _canonical(again) == again else None
    if canonical is not None:
        return canonical, None
    if address.count("@") > 1 and re.search(r"@[^@]*[\s,;][^@]*@", address):
        return None, SEVERAL
    domain = address.rsplit("@", 1)[-1].rstrip(">").strip().lower().rstrip(".")
    if any(domain == d or domain.endswith("." + d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES):
        return None, SPECIAL_USE
    return None, NOT_VALID


def _known_good(text: str) -> bool:
    """An address already canonical, read without the library call per address: a canonical ASCII local part
    and a domain the library has already accepted unchanged. IDN addresses are mostly distinct, their domains
    few; the library checks local part and domain apart, so the domain's verdict holds for every address."""
    local, at, domain = text.rpartition("@")
    return (bool(at) and domain.isascii() is False and len(text.encode()) <= MAX_KNOWN_GOOD
            and _LOCAL_RE.fullmatch(local) is not None and _domain_ok(domain))


@functools.lru_cache(maxsize=4096)
def _domain_ok(domain: str) -> bool:
    return _canonical(f"a@{domain}") == f"a@{domain}"


def _canonical(address: str) -> str | None:
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=True,
                                allow_display_name=True)
    except EmailNotValidError:
        return None
    return unicodedata.normalize("NFC", f"{result.local_part}@{result.domain}".lower())


def _label(max_length: int) -> str:
    """A DNS label of 1..max_length of [a-z0-9-], not starting or ending with "-", and without "--" in the
    third and fourth places (reserved for Punycode "xn--"; the library refuses such labels)."""
    alnum, ldh = "[a-z0-9]", "[a-z0-9-]"
    return (f"(?:{alnum}(?:{ldh}?{alnum})?"
            f"|{alnum}{ldh}{alnum}(?:{ldh}{{0,{max_length - 4}}}{alnum})?"
            f"|{alnum}{ldh}-{alnum}(?:{ldh}{{0,{max_length - 5}}}{alnum})?)")


def _tld_pattern(excluded: list[str], shortest: int = 2, longest: int = 24) -> str:
    """Letters only, `shortest`..`longest` long, and none of `excluded`: written out as a letter trie (RE2 has
    no lookahead to say "not these")."""
    trie: dict = {}
    for word in excluded:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node["$"] = {}

    def rest(node: dict, depth: int) -> str:
        terms = []
        free = "".join(ch for ch in "abcdefghijklmnopqrstuvwxyz" if ch not in node)
        if depth < longest and free:
            low, high = max(shortest - depth - 1, 0), longest - depth - 1
            terms.append(f"{_letters(free)}[a-z]{{{low},{high}}}")
        for ch in sorted(k for k in node if k != "$"):
            if depth < longest:
                terms.append(ch + rest(node[ch], depth + 1))
        body = "(?:" + "|".join(terms) + ")" if terms else ""
        ends_here = depth >= shortest and "$" not in node
        return (body + "?" if ends_here else body) if body else ""

    return rest(trie, 0)


def _letters(chars: str) -> str:
    runs, i = [], 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        runs.append(chars[i] if i == j else f"{chars[i]}-{chars[j]}")
        i = j + 1
    return "[" + "".join(runs) + "]"


_ATOM = "[a-z0-9_+-]"
# The local part is one to three dot-separated runs, bounded so it never passes 64 characters; the domain is a
# label of up to 63, up to three more of up to 30 and a TLD of up to 24: at most 181, so the address stays
# within 64 + 1 + 181 = 246 <= 254 characters.
_LOCAL = (f"(?:{_ATOM}{{1,64}}|{_ATOM}{{1,32}}\\.{_ATOM}{{1,31}}"
          f"|{_ATOM}{{1,21}}\\.{_ATOM}{{1,21}}\\.{_ATOM}{{1,20}})")
_DOMAIN = f"{_label(63)}\\.(?:{_label(30)}\\.){{0,3}}{_tld_pattern(_SPECIAL_USE_TLDS)}"
CANONICAL = _LOCAL + "@" + _DOMAIN
_LOCAL_RE = re.compile(_LOCAL)
MAX_KNOWN_GOOD = 200  # bytes: well inside the library's length limits, whatever the domain's Punycode form
