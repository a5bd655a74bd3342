"""The Faker providers and locales a spec may name, written out so that reading a spec needs no Faker.

Specs are also parsed where Faker is not installed (the Databricks cleaning cluster), and importing Faker
costs most of a second. tests/test_spec_limits.py derives both lists from the installed Faker and fails when
they drift.

A provider is allowed when it is public, takes no arguments and returns text or a number (str, int, float,
Decimal) for en_US, and is not a whole document (csv, json, xml, ...). That leaves out binary, pyobject,
pydict, date_object and the like, which return bytes or objects that do not belong in a text column.
"""

PROVIDERS = frozenset({
    "aba", "address", "administrative_unit", "am_pm", "android_platform_token", "ascii_company_email",
    "ascii_email", "ascii_free_email", "ascii_safe_email", "bank", "bank_country", "basic_phone_number",
    "bban", "bs", "building_number", "catch_phrase", "century", "chrome", "city", "city_prefix",
    "city_suffix", "color", "color_name", "company", "company_email", "company_suffix", "coordinate",
    "country", "country_calling_code", "country_code", "credit_card_expire", "credit_card_full",
    "credit_card_number", "credit_card_provider", "credit_card_security_code", "cryptocurrency_code",
    "cryptocurrency_name", "currency_code", "currency_name", "currency_symbol", "current_country",
    "current_country_code", "date", "day_of_month", "day_of_week", "dga", "doi", "domain_name",
    "domain_word", "ean", "ean13", "ean8", "ein", "email", "emoji", "file_extension", "file_name",
    "file_path", "firefox", "first_name", "first_name_female", "first_name_male",
    "first_name_nonbinary", "free_email", "free_email_domain", "hex_color", "hostname", "http_method",
    "http_status_code", "iana_id", "iban", "image_url", "internet_explorer", "invalid_ssn",
    "ios_platform_token", "ipv4", "ipv4_network_class", "ipv4_private", "ipv4_public", "ipv6", "isbn10",
    "isbn13", "iso8601", "itin", "job", "job_female", "job_male", "language_name", "last_name",
    "last_name_female", "last_name_male", "last_name_nonbinary", "latitude", "license_plate",
    "linux_platform_token", "linux_processor", "localized_ean", "localized_ean13", "localized_ean8",
    "longitude", "mac_address", "mac_platform_token", "mac_processor", "military_apo", "military_dpo",
    "military_ship", "military_state", "mime_type", "month", "month_name", "msisdn", "name",
    "name_female", "name_male", "name_nonbinary", "nic_handle", "opera", "paragraph", "passport_full",
    "passport_number", "password", "phone_number", "port_number", "postalcode", "postalcode_in_state",
    "postalcode_plus4", "postcode", "postcode_in_state", "prefix", "prefix_female", "prefix_male",
    "prefix_nonbinary", "pricetag", "pydecimal", "pyfloat", "pyint", "pystr", "pystr_format",
    "rgb_color", "rgb_css_color", "ripe_id", "safari", "safe_color_name", "safe_domain_name",
    "safe_email", "safe_hex_color", "sbn9", "secondary_address", "sentence", "slug", "ssn", "state",
    "state_abbr", "street_address", "street_name", "street_suffix", "suffix", "suffix_female",
    "suffix_male", "suffix_nonbinary", "swift", "swift11", "swift8", "text", "time", "timezone", "tld",
    "unix_device", "unix_partition", "unix_time", "upc_a", "upc_e", "uri", "uri_extension", "uri_page",
    "uri_path", "url", "user_agent", "user_name", "vin", "windows_platform_token", "word", "year",
    "zipcode", "zipcode_in_state", "zipcode_plus4",
})

LOCALES = frozenset({
    "am_ET", "ar_AA", "ar_AE", "ar_BH", "ar_DZ", "ar_EG", "ar_JO", "ar_PS", "ar_SA", "az_AZ", "bg_BG",
    "bn_BD", "bs_BA", "cs_CZ", "da_DK", "de", "de_AT", "de_CH", "de_DE", "de_LI", "de_LU", "dk_DK",
    "el_CY", "el_GR", "en", "en_AU", "en_BD", "en_CA", "en_GB", "en_IE", "en_IN", "en_KE", "en_MS",
    "en_NG", "en_NZ", "en_PH", "en_PK", "en_TH", "en_US", "es", "es_AR", "es_CA", "es_CL", "es_CO",
    "es_ES", "es_MX", "et_EE", "fa_IR", "fi_FI", "fil_PH", "fr_BE", "fr_CA", "fr_CH", "fr_DZ", "fr_FR",
    "fr_QC", "ga_IE", "gu_IN", "ha_NG", "he_IL", "hi_IN", "hr_HR", "hu_HU", "hy_AM", "id_ID", "ig_NG",
    "is_IS", "it_CH", "it_IT", "ja_JP", "ka_GE", "ko_KR", "la", "lb_LU", "lt_LT", "lv_LV", "mk_MK",
    "mr_IN", "mt_MT", "ne_NP", "ng_NG", "nl_BE", "nl_NL", "no_NO", "or_IN", "pl_PL", "pt_BR", "pt_PT",
    "ro_RO", "ru_RU", "si_LK", "sk_SK", "sl_SI", "sq_AL", "sr_BA", "sv_SE", "sw", "ta_IN", "th",
    "th_TH", "tl_PH", "tr_TR", "tw_GH", "uk_UA", "uz_UZ", "vi_VN", "yo_NG", "zh_CN", "zh_TW", "zu_ZA",
})
