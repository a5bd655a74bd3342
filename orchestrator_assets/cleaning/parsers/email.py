"""Interim: replaced by the e-mail parser."""
import email_validator

CANONICAL = r"[a-z0-9]{1,30}(\.[a-z0-9]{1,30})?@[a-z0-9]{1,30}\.(com|org|net)"


def parse_email(text):
    try:
        r = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return None, "is not a valid e-mail address"
    return r.normalized.lower(), None
