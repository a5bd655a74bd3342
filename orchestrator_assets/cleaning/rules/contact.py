"""E-mail addresses and phone numbers, decided by email-validator and libphonenumber."""
from __future__ import annotations

import functools

from ..parsers import email, phone
from .base import NULL_OR_QUARANTINE
from .library import LibraryRule


class Email(LibraryRule):
    id = "email"
    checks = "address is valid by RFC 5321/6531 syntax (internationalised addresses included; no DNS lookup)"
    repair = "unwrap 'Name <addr>' and 'mailto:', normalise (NFC, IDN domain in Unicode), lower-case"
    on_failure = NULL_OR_QUARANTINE
    decided_by = "email-validator (check_deliverability=False)"

    def parser(self, params):
        return email.parse_email

    def pattern(self, params):
        return email.CANONICAL


class Phone(LibraryRule):
    id = "phone_e164"
    checks = "a valid number by libphonenumber's metadata, read with the column's default region"
    repair = "format as E.164 (+<country code><number>); trunk and international prefixes resolved; extensions dropped"
    on_failure = NULL_OR_QUARANTINE
    decided_by = "phonenumbers (libphonenumber metadata): parse, is_valid_number, format E164"

    def parser(self, params):
        return functools.partial(phone.parse_phone, region=params["region"])

    def pattern(self, params):
        return phone.canonical_pattern(params["region"])


RULES = [Email(), Phone()]
