"""The phone and e-mail parsers on hand-picked inputs (expected outcomes written from the contract), and
their fast-path regexes: a text that fully matches one is returned unchanged by the parser, in every regex
engine."""
import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import duckdb
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from faker import Faker
from phonenumbers import PhoneMetadata

from orchestrator_assets.cleaning.parsers.digit_languages import DigitLanguages, is_portable
from orchestrator_assets.cleaning.parsers.email import CANONICAL, parse_email
from orchestrator_assets.cleaning.parsers.phone import canonical_pattern, parse_phone

P_INVALID, P_LETTERS = "is not a valid phone number", "contains letters"
P_SYMBOLS = "contains characters that are not part of a phone number"
P_SEVERAL = "holds more than one phone number"
E_INVALID, E_SEVERAL = "is not a valid e-mail address", "holds more than one e-mail address"
E_SPECIAL = "has a special-use domain that cannot receive mail"
SF = "+14155552671"
LONDON = "+442079460958"
BERLIN = "+49301234567"

PHONES = [
    # Inputs where libphonenumber repairs or tolerates something: what it may do, and what it may not.
    ("US", "+1 415 555 2671 555", (None, P_INVALID)),  # extra digits: not quietly dropped
    ("US", "1-415-555-2671", (SF, None)),  # the US trunk prefix 1
    ("US", "001 415 555 2671", (None, P_INVALID)),  # 00 is not the US international prefix (011 is)
    ("GB", "+44 (0) 20 7946 0958", (LONDON, None)),
    ("GB", "020 7946 0958", (LONDON, None)),
    ("DE", "0049 30 1234567", (BERLIN, None)),
    ("DE", "(0)30 1234567", (BERLIN, None)),
    # Canonical and formatted forms.
    ("US", SF, (SF, None)),
    ("US", "(415) 555-2671", (SF, None)),
    ("US", "+1.415.555.2671", (SF, None)),
    ("US", "+1 (415) 555-2671", (SF, None)),
    ("US", "011 44 20 7946 0958", (LONDON, None)),  # the US international prefix
    ("US", "+44 20 7946 0958", (LONDON, None)),  # a written country code beats the column's region
    ("US", "+1415\uff15\uff15\uff152671", (SF, None)),  # full-width digits
    ("US", "+1 1 415 555 2671", (SF, None)),  # trunk prefix kept after the country code (as "+44 (0)")
    ("DE", "+49 (0)30 1234567", (BERLIN, None)),
    ("DE", "030/1234567", (BERLIN, None)),
    ("FR", "01 23 45 67 89", ("+33123456789", None)),
    ("FR", "+33 (0)1 23 45 67 89", ("+33123456789", None)),
    ("IN", "098765 43210", ("+919876543210", None)),
    ("IN", "+91 98765 43210", ("+919876543210", None)),
    ("GB", "0044 20 7946 0958", (LONDON, None)),
    # Extensions are dropped.
    ("US", "415.555.2671 ext. 3", (SF, None)),
    ("US", "415-555-2671 x123", (SF, None)),
    ("US", "tel:+1-415-555-2671;ext=3", (SF, None)),
    ("US", "+1-415-555-2671 extension 3", (SF, None)),
    # Letters are not keypad digits, and words are not skipped.
    ("US", "1-800-FLOWERS", (None, P_LETTERS)),
    ("US", "call 415 555 2671", (None, P_LETTERS)),
    ("US", "+1 415 555 2671 (home)", (None, P_LETTERS)),
    ("US", "+1 415 555 2671 x", (None, P_LETTERS)),  # a marker without an extension
    ("US", "+1 415 555 2671 anexo 3", (None, P_LETTERS)),  # only English extension markers
    # Pauses and stray symbols are not extensions.
    ("US", "+1 415 555 2671 ,3", (None, P_SYMBOLS)),
    ("US", "+1 415-555-2671 #3", (None, P_SYMBOLS)),
    ("US", "*67 415 555 2671", (None, P_SYMBOLS)),
    ("US", "++1 415 555 2671", (None, P_SYMBOLS)),
    # Two numbers in one cell.
    ("US", "+1 415 555 2671, +1 415 555 2672", (None, P_SEVERAL)),
    ("US", "415 555 2671 / 415 555 2672", (None, P_SEVERAL)),
    ("US", "4155552671 4155552672", (None, P_SEVERAL)),
    ("US", "+1 415 555 2671\n+1 415 555 2672", (None, P_SEVERAL)),
    ("DE", "030 1234567 / 030 7654321", (None, P_SEVERAL)),
    ("DE", "+49 30 1234567 +49 30 7654321", (None, P_SEVERAL)),
    # Not valid numbers.
    ("US", "555-2671", (None, P_INVALID)),
    ("US", "44 20 7946 0958", (None, P_INVALID)),
    ("US", "1 (0) 415 555 2671", (None, P_INVALID)),
    ("US", "+1 415 555 26710", (None, P_INVALID)),
    ("US", "+0 415 555 2671", (None, P_INVALID)),
    ("GB", "4155552671", (None, P_INVALID)),
]

EMAILS = [
    ("ann@example.com", ("ann@example.com", None)),
    ("ann@example.org", ("ann@example.org", None)),  # the documentation domains are accepted by the library
    ("ann@x.example", ("ann@x.example", None)),
    ("Ann.Lee@Example.COM", ("ann.lee@example.com", None)),  # local part lower-cased too
    ("ANN@X.COM", ("ann@x.com", None)),
    ("user@xn--bcher-kva.de", ("user@bücher.de", None)),  # IDN in Unicode form
    ("user@BÜCHER.de", ("user@bücher.de", None)),
    ("ann@x.xn--p1ai", ("ann@x.рф", None)),
    ("üser@bücher.de", ("üser@bücher.de", None)),  # SMTPUTF8 local part
    ("Ὀδυσσεύς@x.gr", ("ὀδυσσεύς@x.gr", None)),
    ("Ann Lee <ann@x.com>", ("ann@x.com", None)),
    ('"Lee, Ann" <ann@x.com>', ("ann@x.com", None)),
    ("<ann@x.com>", ("ann@x.com", None)),
    ("mailto:ann@x.com", ("ann@x.com", None)),
    ("MAILTO:Ann@X.com", ("ann@x.com", None)),
    ("ann+tag@x.com", ("ann+tag@x.com", None)),
    ("ann_lee@x.co.uk", ("ann_lee@x.co.uk", None)),
    ("a" * 64 + "@x.com", ("a" * 64 + "@x.com", None)),
    ("ann at x dot com", (None, E_INVALID)),
    ("a..b@x.com", (None, E_INVALID)),
    (".a@x.com", (None, E_INVALID)),
    ("a.@x.com", (None, E_INVALID)),
    ("ann@x", (None, E_INVALID)),
    ("ann @x.com", (None, E_INVALID)),
    ("ann@x .com", (None, E_INVALID)),
    ('"ann lee"@x.com', (None, E_INVALID)),  # quoted local parts: the library's default refuses them
    ("ann@[192.168.0.1]", (None, E_INVALID)),
    ("ann@ab--c.com", (None, E_INVALID)),  # "--" in places 3-4 is reserved for Punycode
    ("ann@x.com.", (None, E_INVALID)),
    ("ann@-x.com", (None, E_INVALID)),
    ("ann@ex_ample.com", (None, E_INVALID)),
    ("ann\u200b@x.com", (None, E_INVALID)),
    ("Ann <ann@x.com> extra", (None, E_INVALID)),
    ("ann@" + "a" * 64 + ".com", (None, E_INVALID)),
    ("ann@@x.com", (None, E_INVALID)),
    ("ann@x.y1", (None, E_INVALID)),
    ("ann@x.test", (None, E_SPECIAL)),
    ("ann@x.invalid", (None, E_SPECIAL)),
    ("ann@printer.local", (None, E_SPECIAL)),
    ("ann@x.onion", (None, E_SPECIAL)),
    ("ann@x.com, bob@y.com", (None, E_SEVERAL)),
    ("ann@x.com bob@y.com", (None, E_SEVERAL)),
]


@pytest.mark.parametrize("region,text,expected", PHONES, ids=[f"{r}:{t}" for r, t, _ in PHONES])
def test_parse_phone(region, text, expected):
    assert parse_phone(text, region) == expected
    canonical = expected[0]
    if canonical is not None:
        # The canonical form reads back as itself, and the fast path takes it.
        assert parse_phone(canonical, region) == (canonical, None)
        home = phonenumbers.region_code_for_number(phonenumbers.parse(canonical))
        assert re.fullmatch(canonical_pattern(home), canonical)


@pytest.mark.parametrize("text,expected", EMAILS, ids=[t[:40] for t, _ in EMAILS])
def test_parse_email(text, expected):
    assert parse_email(text) == expected
    canonical = expected[0]
    if canonical is not None:
        assert parse_email(canonical) == (canonical, None)


def test_parsers_are_thread_safe():
    cases = PHONES * 4
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda c: parse_phone(c[1], c[0]), cases))
    assert got == [expected for _, _, expected in cases]


def test_canonical_pattern_names_an_unknown_region():
    with pytest.raises(ValueError, match="'XX'"):
        canonical_pattern("XX")


def _random_e164(rnd, region, count):
    code = phonenumbers.country_code_for_region(region)
    lengths = sorted(PhoneMetadata.metadata_for_region(region).general_desc.possible_length)
    return [f"+{code}" + "".join(rnd.choices("0123456789", k=rnd.choice(lengths))) for _ in range(count)]


@pytest.mark.parametrize("region,count", [("US", 6000), ("DE", 3000), ("GB", 3000), ("FR", 3000),
                                          ("IN", 3000)])
def test_phone_pattern_is_exactly_the_unchanged_numbers(region, count):
    """Random E.164 strings: every match is returned unchanged (the guarantee), and the numbers returned
    unchanged match (coverage; the construction is exact, only trunk-prefix-like numbers are left out)."""
    pattern = canonical_pattern(region)
    texts = _random_e164(random.Random(region), region, count)
    compiled = re.compile(pattern)
    matches = [compiled.fullmatch(t) is not None for t in texts]
    unchanged = [parse_phone(t, region) == (t, None) for t in texts]
    assert [t for t, m, u in zip(texts, matches, unchanged) if m and not u] == []
    assert sum(unchanged) > count * 0.05  # the sample holds real numbers
    assert sum(m and u for m, u in zip(matches, unchanged)) >= 0.99 * sum(unchanged)
    assert pc.match_substring_regex(pa.array(texts), f"^(?:{pattern})$").to_pylist() == matches


def test_phone_patterns_are_portable():
    for region in ("US", "DE", "GB", "FR", "IN", "CN", "AR", "RU", "IT", "AU"):
        pattern = canonical_pattern(region)
        assert is_portable(pattern), region
        sample = _random_e164(random.Random(1), region, 300) + ["+1 415 555 2671", "+1415555267１"]
        expected = [re.fullmatch(pattern, t) is not None for t in sample]
        got = duckdb.sql("select regexp_full_match(t, $p) from unnest($s::varchar[]) with ordinality u(t, i) "
                         "order by i", params={"p": pattern, "s": sample}).fetchall()
        assert [row[0] for row in got] == expected, region


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime")
def test_patterns_read_the_same_in_java(tmp_path):
    source = tmp_path / "Check.java"
    source.write_text(
        "import java.nio.file.*; import java.util.*; import java.util.regex.*;\n"
        "public class Check { public static void main(String[] a) throws Exception {\n"
        "  for (String file : a) { List<String> lines = Files.readAllLines(Path.of(file));\n"
        "    Pattern p = Pattern.compile(lines.get(0)); StringBuilder out = new StringBuilder();\n"
        "    for (String s : lines.subList(1, lines.size()))\n"
        "      out.append(p.matcher(s).matches() ? '1' : '0');\n"
        "    System.out.println(out); } }}\n")
    rnd = random.Random(2)
    cases = [(canonical_pattern("US"), _random_e164(rnd, "US", 500)),
             (canonical_pattern("DE"), _random_e164(rnd, "DE", 500)),
             (CANONICAL, [_random_address(rnd) for _ in range(500)])]
    files = []
    for i, (pattern, sample) in enumerate(cases):
        files.append(tmp_path / f"in{i}.txt")
        files[-1].write_text("\n".join([pattern, *sample]) + "\n", encoding="utf-8")
    out = subprocess.run(["java", str(source), *map(str, files)], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["".join("1" if re.fullmatch(p, t) else "0" for t in sample) for p, sample in cases]


def test_digit_languages_round_trip_libphonenumber_patterns():
    rnd = random.Random(3)
    langs = DigitLanguages()
    for region in ("US", "DE", "GB"):
        metadata = PhoneMetadata.metadata_for_region(region)
        for desc in (metadata.general_desc, metadata.fixed_line, metadata.mobile):
            source = desc.national_number_pattern
            written = langs.to_regex(langs.from_regex(source))
            for _ in range(3000):
                digits = "".join(rnd.choices("0123456789", k=rnd.randint(4, 12)))
                expected = re.fullmatch(source, digits) is not None
                assert (re.fullmatch(written, digits) is not None) == expected, digits


ATOM = "abcdefghijklmnopqrstuvwxyz0123456789_+-"


def _piece(rnd, chars, longest):
    return "".join(rnd.choices(chars, k=rnd.randint(1, longest)))


def _random_address(rnd):
    """Mostly pattern-shaped addresses, with upper case, stray dots, long parts and special-use TLDs."""
    local = ".".join(_piece(rnd, ATOM + ("A." if rnd.random() < 0.2 else ""), rnd.choice([3, 8, 30, 66]))
                     for _ in range(rnd.randint(1, 3)))
    label_chars = "abcdefghijklmnopqrstuvwxyz0123456789" + "-" * rnd.randint(0, 3)
    labels = [_piece(rnd, label_chars, rnd.choice([3, 10, 64])) for _ in range(rnd.randint(1, 4))]
    tld = rnd.choice(["com", "org", "de", "test", "local", "localhost", "onion", "arpa", "invalid", "tests",
                      "c0m", "x", "COM", "example", _piece(rnd, "abcdefghijklmnopqrstuvwxyz", 26)])
    return local + "@" + ".".join(labels + [tld])


def test_email_pattern_matches_are_returned_unchanged():
    rnd = random.Random(4)
    compiled = re.compile(CANONICAL)
    texts = [_random_address(rnd) for _ in range(20000)]
    matched = [t for t in texts if compiled.fullmatch(t)]
    assert len(matched) > 2000
    assert [t for t in matched if parse_email(t) != (t, None)] == []
    assert pc.match_substring_regex(pa.array(texts), f"^(?:{CANONICAL})$").to_pylist() == [
        compiled.fullmatch(t) is not None for t in texts]
    got = duckdb.sql("select regexp_full_match(t, $p) from unnest($s::varchar[]) with ordinality u(t, i) "
                     "order by i", params={"p": CANONICAL, "s": texts[:2000]}).fetchall()
    assert [row[0] for row in got] == [compiled.fullmatch(t) is not None for t in texts[:2000]]


def test_email_pattern_takes_faker_addresses():
    compiled = re.compile(CANONICAL)
    addresses = []
    for locale in ("en_US", "de_DE", "fr_FR", "ja_JP", "ru_RU", "pt_BR"):
        fake = Faker(locale)
        fake.seed_instance(5)
        addresses += [fake.email() for _ in range(300)] + [fake.free_email() for _ in range(100)]
    assert [a for a in addresses if parse_email(a) != (a, None)] == []
    assert [a for a in addresses if not compiled.fullmatch(a)] == []


@pytest.mark.parametrize("text,matches", [
    ("a" * 64 + "@x.com", True), ("a" * 65 + "@x.com", False),  # the library takes 65; the fast path does not
    ("ann@" + "b" * 63 + ".com", True), ("ann@" + "b" * 64 + ".com", False),
    ("ann@x.tests", True), ("ann@x.test", False), ("ann@x.localhost", False), ("ann@x.localhos", True),
    ("ann@a--b.com", True), ("ann@ab--c.com", False), ("Ann@x.com", False), ("a.b.c@x.com", True),
    ("a.b.c.d@x.com", False), ("ann@a.b.c.d.com", True), ("ann@x.c0m", False), ("ann@x.c", False),
])
def test_email_pattern_bounds(text, matches):
    assert (re.fullmatch(CANONICAL, text) is not None) == matches
    if matches:
        assert parse_email(text) == (text, None)


def test_parse_phone_names_an_unknown_region():
    with pytest.raises(ValueError, match="'us'"):
        parse_phone("+14155552671", "us")


def test_library_formatted_numbers_read_back():
    """Every way libphonenumber itself writes a number (international, national, RFC 3966, dialled from the US
    or Germany) passes the pre-checks and reads back as the same E.164, for every region's example numbers."""
    fmt = phonenumbers.PhoneNumberFormat
    wrong = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None or not phonenumbers.is_valid_number(number):
                continue
            e164 = phonenumbers.format_number(number, fmt.E164)
            home = phonenumbers.region_code_for_number(number)
            dialled = phonenumbers.format_out_of_country_calling_number
            for text, column_region in ((phonenumbers.format_number(number, fmt.INTERNATIONAL), region),
                                        (phonenumbers.format_number(number, fmt.NATIONAL), home),
                                        (phonenumbers.format_number(number, fmt.RFC3966), region),
                                        (dialled(number, "US"), "US"), (dialled(number, "DE"), "DE")):
                if parse_phone(text, column_region) != (e164, None):
                    wrong.append((text, column_region, e164, parse_phone(text, column_region)))
    assert wrong == []


def test_idn_addresses_known_good_by_their_domain_agree_with_the_library():
    """The per-domain shortcut for Unicode domains gives exactly what the library gives address by address."""
    import random

    from orchestrator_assets.cleaning.parsers import email as E

    rng = random.Random(5)
    domains = ["bücher.de", "müller.de", "straße.de", "例え.jp", "xn--bcher-kva.de", "bücher..de", "-bücher.de",
               "bücher.test", "ü.de"]
    atoms = "abcdefghijklmnopqrstuvwxyz0123456789_+-"
    for _ in range(3000):
        local = ".".join("".join(rng.choice(atoms) for _ in range(rng.randint(1, 12)))
                         for _ in range(rng.randint(1, 3)))
        text = f"{local}@{rng.choice(domains)}"
        full = E._canonical(text)
        expected = (text, None) if full == text else None
        if E._known_good(text):
            assert expected == (text, None), text
        if expected:
            assert E.parse_email(text) == expected, text
