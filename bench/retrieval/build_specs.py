"""Writes the benchmark's stored specs (specs/*.yaml): the built-in spec's subsets and other shops, industries
and locales built from the same parts. Run it after changing a definition; every spec it writes is validated
and generates 200 anchor rows.

    .venv/bin/python bench/retrieval/build_specs.py
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from orchestrator_assets.generation.generator import generate
from orchestrator_assets.generation.spec import BUILTIN_DIR, parse_spec

OUT = Path(__file__).resolve().parent / "specs"


# ---- column parts --------------------------------------------------------------------------------
def key():
    return {"type": "id", "source": {"kind": "sequence"}}


def fk(table, zipf=False, required=True):
    src = {"kind": "foreign_key", "table": table}
    if zipf:
        src["distribution"] = "zipf"
    return {"type": "id", "required": required, "source": src, "errors": ["orphan_fk"]}


def person(provider, locale):
    return {"type": "string", "case": "proper", "errors": ["whitespace", "wrong_case"],
            "source": {"kind": "faker", "provider": provider, "locale": locale, "pool_size": 2000}}


def text(provider, locale="en_US", required=True):
    col = {"type": "string", "required": required, "errors": ["whitespace"] + ([] if required else ["empty_string"]),
           "source": {"kind": "faker", "provider": provider, "locale": locale, "pool_size": 2000}}
    return col


def email(locale):
    return {"type": "email", "required": False, "errors": ["invalid_email", "email_case", "whitespace"],
            "source": {"kind": "faker", "provider": "email", "locale": locale, "pool_size": 3000}}


def phone(code):
    return {"type": "phone", "required": False, "errors": ["phone_format", "malformed_phone", "missing"],
            "source": {"kind": "phone", "country_code": code}}


def enum(values, case="lower"):
    return {"type": "enum", "case": case, "errors": ["wrong_case", "whitespace"],
            "source": {"kind": "choice", "values": values}}


def money(lo, hi):
    return {"type": "float", "min": 0, "errors": ["negative_amount", "number_as_string"],
            "source": {"kind": "float_range", "min": lo, "max": hi, "distribution": "lognormal"}}


def number(lo, hi, vmin, vmax):
    return {"type": "int", "min": vmin, "max": vmax, "errors": ["out_of_range", "number_as_string"],
            "source": {"kind": "int_range", "min": lo, "max": hi}}


def when(start="2024-01-01", end="2025-01-01"):
    return {"type": "timestamp", "errors": ["date_format", "unparseable_date"],
            "source": {"kind": "datetime_range", "start": start, "end": end}}


def after(column, lo=1, hi=72, required=True):
    return {"type": "timestamp", "required": required, "errors": ["date_format"] + ([] if required else ["missing"]),
            "source": {"kind": "after", "column": column, "min_hours": lo, "max_hours": hi}}


# ---- table parts ---------------------------------------------------------------------------------
def table(description, rows, pk, columns, row_errors=("exact_duplicate",)):
    return {"description": description, "rows": rows, "primary_key": pk, "row_errors": list(row_errors),
            "columns": {pk: key(), **columns}}


def per(anchor, ratio, at_least=20):
    return {"per": anchor, "ratio": ratio, "at_least": at_least}


def fixed(count):
    return {"count": count}


def children(parent, via, lo=1, hi=4):
    return {"children_of": parent, "via": via, "min_children": lo, "max_children": hi}


def spec(name, description, anchor, tables, region="US", error_rate=0.3):
    return {"name": name, "description": description, "anchor": anchor, "error_rate": error_rate,
            "default_phone_region": region, "tables": tables}


def shop(name, description, locale, currency, code, region, departments, carriers, people="customers",
         goods="products", reviews=True):
    """An online shop in a locale: the built-in spec's shape with local names, currency and carriers."""
    person_key, goods_key = people[:-1] + "_id", goods[:-1] + "_id"
    tables = {
        people: table("Shop customers.", per("orders", 0.2), person_key, {
            "first_name": person("first_name", locale), "last_name": person("last_name", locale),
            "email": email(locale), "phone": phone(code), "city": text("city", locale)}),
        goods: table("The catalogue.", per("orders", 0.02, 50), goods_key, {
            "name": text("catch_phrase", locale), "department": enum(departments), "price": money(2, 900)}),
        "orders": table("One row per checkout.", fixed(1000), "order_id", {
            person_key: fk(people, zipf=True), "status": enum(["placed", "paid", "shipped", "delivered", "returned"]),
            "currency": enum([currency], case="upper"), "ordered_at": when(), "total_amount": money(5, 2000)}),
        "order_items": table("Lines of an order.", children("orders", "order_id"), "order_item_id", {
            "order_id": fk("orders"), goods_key: fk(goods, zipf=True), "quantity": number(1, 5, 1, 100)},
            row_errors=()),
        "shipments": table("Parcel per order.", children("orders", "order_id", 1, 1), "shipment_id", {
            "order_id": fk("orders"), "carrier": enum(carriers, case="upper"), "shipped_at": when(),
            "delivered_at": after("shipped_at", 20, 200, required=False)}, row_errors=()),
    }
    if reviews:
        tables["reviews"] = table("Product reviews.", per("orders", 0.3), "review_id", {
            goods_key: fk(goods, zipf=True), person_key: fk(people), "rating": number(1, 5, 1, 5),
            "title": text("sentence", locale, required=False)})
    return spec(name, description, "orders", tables, region)


# ---- the built-in spec's subsets -----------------------------------------------------------------
def builtin_without(name, description, drop):
    data = copy.deepcopy(yaml.safe_load((BUILTIN_DIR / "ecommerce.yaml").read_text()))
    data["name"], data["description"] = name, description
    for t in drop:
        del data["tables"][t]
    return data


def builtin_specs():
    yield builtin_without("ecommerce_no_reviews", "The online shop without product reviews and without the "
                          "click-stream: customers, catalogue, orders, payments, shipments.", ["reviews", "web_events"])
    yield builtin_without("shop_orders_payments", "Checkout data only: customers, products, orders with their "
                          "lines and payments; no shipping, reviews or web events.",
                          ["shipments", "reviews", "web_events"])
    cat = builtin_without("shop_catalogue_reviews", "A product catalogue with categories and customer reviews "
                          "(ratings and titles); no orders.",
                          ["orders", "order_items", "payments", "shipments", "web_events"])
    cat["anchor"] = "reviews"
    cat["tables"]["reviews"]["rows"] = {"count": 1000}
    for t in ("locations", "users", "products"):
        cat["tables"][t]["rows"]["per"] = "reviews"
    yield cat
    web = builtin_without("shop_clickstream", "Storefront click-stream: page views, product views, add to cart "
                          "and search events of visitors and customers.",
                          ["orders", "order_items", "payments", "shipments", "reviews"])
    web["anchor"] = "web_events"
    web["tables"]["web_events"]["rows"] = {"count": 1000}
    for t in ("locations", "users", "products"):
        web["tables"][t]["rows"]["per"] = "web_events"
    yield web


# ---- other shops and locales ---------------------------------------------------------------------
def shop_specs():
    yield shop("fashion_shop_de", "Deutscher Mode-Onlineshop: Kunden, Artikel, Bestellungen, Versand mit DHL "
               "und Hermes, Bewertungen. German fashion retailer, prices in euro.", "de_DE", "EUR", 49, "DE",
               ["damen", "herren", "kinder", "schuhe", "accessoires"], ["DHL", "HERMES", "DPD"])
    yield shop("electronics_store_uk", "British consumer electronics web shop: phones, laptops, TVs; orders "
               "shipped with Royal Mail, prices in pounds.", "en_GB", "GBP", 44, "GB",
               ["phones", "laptops", "tv", "audio", "gaming"], ["ROYAL_MAIL", "DPD", "EVRI"])
    yield shop("japan_shop", "Japanese online shop with customers in Japan, yen prices and Yamato and Sagawa "
               "deliveries.", "ja_JP", "JPY", 81, "JP", ["kitchen", "stationery", "fashion", "anime"],
               ["YAMATO", "SAGAWA", "JAPAN_POST"])
    yield shop("boutique_fr", "Boutique en ligne française de cosmétiques: clientes, produits de beauté, "
               "commandes et livraisons Colissimo.", "fr_FR", "EUR", 33, "FR",
               ["soin", "maquillage", "parfum"], ["COLISSIMO", "CHRONOPOST"], reviews=False)
    yield shop("marketplace_br", "Brazilian marketplace: compradores, produtos, pedidos, entregas pelos "
               "Correios, prices in reais.", "pt_BR", "BRL", 55, "BR",
               ["eletronicos", "casa", "moda", "esporte"], ["CORREIOS", "JADLOG"])
    yield shop("bookstore_es", "Librería online en España: libros, clientes, pedidos y envíos; book shop with "
               "genres as departments.", "es_ES", "EUR", 34, "ES",
               ["novela", "infantil", "ciencia", "historia"], ["CORREOS", "SEUR"], goods="books")
    yield shop("grocery_delivery_nl", "Dutch grocery delivery: households order fresh food and groceries, "
               "delivered the same day.", "nl_NL", "EUR", 31, "NL",
               ["zuivel", "groente", "vlees", "brood", "dranken"], ["PICNIC", "POSTNL"], people="households",
               reviews=False)
    yield shop("pet_supplies_us", "US pet supplies store: dog food, cat litter, toys; customers, orders, "
               "shipments and product reviews.", "en_US", "USD", 1, "US",
               ["dog", "cat", "fish", "bird"], ["UPS", "USPS"])
    yield shop("furniture_it", "Negozio di mobili italiano online: clienti, mobili, ordini, spedizioni; "
               "Italian furniture shop.", "it_IT", "EUR", 39, "IT",
               ["soggiorno", "cucina", "camera", "ufficio"], ["BRT", "GLS"], goods="items", reviews=False)


# ---- other industries ----------------------------------------------------------------------------
def industry_specs():
    yield spec("hotel_bookings", "Hotel reservations: guests, rooms, bookings with check-in and check-out, "
               "payments.", "bookings", {
                   "guests": table("Hotel guests.", per("bookings", 0.5), "guest_id", {
                       "first_name": person("first_name", "en_US"), "last_name": person("last_name", "en_US"),
                       "email": email("en_US"), "country": text("country")}),
                   "rooms": table("Rooms of the hotel.", fixed(120), "room_id", {
                       "room_type": enum(["single", "double", "suite"]), "nightly_rate": money(60, 900)}),
                   "bookings": table("A stay.", fixed(1000), "booking_id", {
                       "guest_id": fk("guests"), "room_id": fk("rooms", zipf=True), "check_in": when(),
                       "check_out": after("check_in", 24, 336), "status": enum(["booked", "stayed", "cancelled"])}),
                   "payments": table("Payment per booking.", children("bookings", "booking_id", 1, 1), "payment_id",
                                     {"booking_id": fk("bookings"), "amount": money(60, 5000),
                                      "method": enum(["card", "cash", "voucher"])}, row_errors=()),
               })
    yield spec("food_delivery", "Restaurant food delivery app: customers order dishes from restaurants, "
               "couriers deliver them.", "orders", {
                   "customers": table("App users.", per("orders", 0.25), "customer_id", {
                       "name": person("name", "en_US"), "phone": phone(1), "address": text("street_address")}),
                   "restaurants": table("Partner restaurants.", per("orders", 0.01), "restaurant_id", {
                       "name": text("company"), "cuisine": enum(["pizza", "sushi", "burger", "thai", "indian"])}),
                   "dishes": table("Menu items.", per("orders", 0.05, 50), "dish_id", {
                       "restaurant_id": fk("restaurants"), "name": text("word"), "price": money(3, 40)}),
                   "couriers": table("Delivery riders.", per("orders", 0.005), "courier_id", {
                       "name": person("name", "en_US"), "vehicle": enum(["bike", "scooter", "car"])}),
                   "orders": table("One delivery order.", fixed(1000), "order_id", {
                       "customer_id": fk("customers", zipf=True), "restaurant_id": fk("restaurants", zipf=True),
                       "courier_id": fk("couriers"), "ordered_at": when(), "delivered_at": after("ordered_at", 0, 2),
                       "tip": money(0, 20)}),
                   "order_items": table("Dishes of an order.", children("orders", "order_id"), "order_item_id", {
                       "order_id": fk("orders"), "dish_id": fk("dishes", zipf=True),
                       "quantity": number(1, 4, 1, 50)}, row_errors=()),
               })
    yield spec("saas_subscriptions", "SaaS billing: customer accounts, plans, subscriptions, monthly invoices "
               "and product usage events.", "subscriptions", {
                   "accounts": table("Customer companies.", per("subscriptions", 0.8), "account_id", {
                       "company": text("company"), "email": email("en_US"), "country": text("country")}),
                   "plans": table("Price plans.", fixed(6), "plan_id", {
                       "plan_name": enum(["free", "starter", "team", "business", "enterprise"]),
                       "monthly_price": money(0, 2000)}),
                   "subscriptions": table("A plan an account pays for.", fixed(1000), "subscription_id", {
                       "account_id": fk("accounts"), "plan_id": fk("plans", zipf=True), "started_at": when(),
                       "status": enum(["trial", "active", "past_due", "churned"])}),
                   "invoices": table("Monthly invoices.", children("subscriptions", "subscription_id", 1, 12),
                                     "invoice_id", {"subscription_id": fk("subscriptions"), "amount": money(0, 5000),
                                                    "issued_at": when()}, row_errors=()),
                   "usage_events": table("Feature usage.", per("subscriptions", 5), "usage_event_id", {
                       "account_id": fk("accounts"), "feature": enum(["api", "export", "dashboard", "sso"]),
                       "occurred_at": when()}),
               })
    yield spec("car_rental", "Car rental company: customers, vehicles at branches, rentals with pick-up and "
               "return, damage fees.", "rentals", {
                   "customers": table("Renters.", per("rentals", 0.4), "customer_id", {
                       "first_name": person("first_name", "en_US"), "last_name": person("last_name", "en_US"),
                       "license_number": text("license_plate"), "phone": phone(1)}),
                   "branches": table("Rental stations.", fixed(30), "branch_id", {"city": text("city")}),
                   "vehicles": table("The fleet.", fixed(400), "vehicle_id", {
                       "branch_id": fk("branches"), "make": enum(["toyota", "ford", "vw", "bmw", "tesla"]),
                       "category": enum(["economy", "compact", "suv", "van"])}),
                   "rentals": table("A rental contract.", fixed(1000), "rental_id", {
                       "customer_id": fk("customers"), "vehicle_id": fk("vehicles", zipf=True),
                       "picked_up_at": when(), "returned_at": after("picked_up_at", 4, 400),
                       "price": money(20, 3000), "mileage_km": number(10, 4000, 0, 20000)}),
               })
    yield spec("library_loans", "Public library: members borrow books; loans with due dates, returns and late "
               "fines.", "loans", {
                   "members": table("Library card holders.", per("loans", 0.3), "member_id", {
                       "name": person("name", "en_US"), "email": email("en_US"), "age": number(6, 90, 3, 120)}),
                   "books": table("The collection.", per("loans", 0.5, 100), "book_id", {
                       "title": text("sentence"), "author": person("name", "en_US"), "isbn": text("isbn13"),
                       "genre": enum(["fiction", "history", "science", "children"])}),
                   "loans": table("A borrowed copy.", fixed(1000), "loan_id", {
                       "member_id": fk("members", zipf=True), "book_id": fk("books", zipf=True),
                       "borrowed_at": when(), "returned_at": after("borrowed_at", 24, 900, required=False)}),
                   "fines": table("Late fees.", per("loans", 0.1), "fine_id", {
                       "loan_id": fk("loans"), "amount": money(0.5, 30)}),
               })
    yield spec("airline_bookings", "Airline: passengers, flights between airports, tickets with fare class and "
               "seat, boarding.", "tickets", {
                   "passengers": table("Travellers.", per("tickets", 0.6), "passenger_id", {
                       "first_name": person("first_name", "en_US"), "last_name": person("last_name", "en_US"),
                       "passport_country": text("country_code"), "email": email("en_US")}),
                   "flights": table("Scheduled flights.", per("tickets", 0.01), "flight_id", {
                       "flight_number": text("license_plate"), "origin": enum(["JFK", "LHR", "FRA", "NRT", "CDG"], "upper"),
                       "destination": enum(["SFO", "DXB", "SIN", "MAD", "AMS"], "upper"), "departs_at": when()}),
                   "tickets": table("A booked seat.", fixed(1000), "ticket_id", {
                       "passenger_id": fk("passengers"), "flight_id": fk("flights", zipf=True),
                       "fare_class": enum(["economy", "premium", "business", "first"]), "fare": money(50, 9000),
                       "seat": text("building_number")}),
               })
    yield spec("pharmacy_prescriptions", "Pharmacy: patients, doctors, medicines and the prescriptions filled "
               "with dosage and quantity.", "prescriptions", {
                   "patients": table("People with prescriptions.", per("prescriptions", 0.3), "patient_id", {
                       "name": person("name", "en_US"), "birth_year": number(1930, 2020, 1900, 2026),
                       "phone": phone(1)}),
                   "doctors": table("Prescribing physicians.", fixed(80), "doctor_id", {
                       "name": person("name", "en_US"), "specialty": enum(["gp", "cardiology", "pediatrics"])}),
                   "medicines": table("Drugs in stock.", fixed(300), "medicine_id", {
                       "drug_name": text("word"), "form": enum(["tablet", "syrup", "injection"]),
                       "unit_price": money(1, 400)}),
                   "prescriptions": table("A filled prescription.", fixed(1000), "prescription_id", {
                       "patient_id": fk("patients"), "doctor_id": fk("doctors"), "medicine_id": fk("medicines", True),
                       "dosage_mg": number(5, 1000, 1, 5000), "filled_at": when()}),
               })
    yield spec("gym_memberships", "Fitness club: members, membership plans, class schedule and check-ins at "
               "the gym.", "check_ins", {
                   "members": table("Gym members.", per("check_ins", 0.05), "member_id", {
                       "name": person("name", "en_US"), "email": email("en_US"),
                       "plan": enum(["basic", "plus", "premium"]), "joined_at": when("2020-01-01", "2025-01-01")}),
                   "classes": table("Group classes.", fixed(50), "class_id", {
                       "class_name": enum(["yoga", "spinning", "pilates", "boxing", "hiit"]),
                       "trainer": person("name", "en_US")}),
                   "check_ins": table("A visit.", fixed(1000), "check_in_id", {
                       "member_id": fk("members", zipf=True), "class_id": fk("classes", required=False),
                       "checked_in_at": when()}),
               })
    yield spec("event_ticketing", "Concert and event ticketing: venues, events, attendees and tickets sold "
               "with price tiers.", "tickets", {
                   "venues": table("Concert halls and arenas.", fixed(40), "venue_id", {
                       "name": text("company"), "city": text("city"), "capacity": number(200, 60000, 1, 100000)}),
                   "events": table("Shows.", per("tickets", 0.01), "event_id", {
                       "venue_id": fk("venues"), "title": text("catch_phrase"), "starts_at": when()}),
                   "attendees": table("Ticket buyers.", per("tickets", 0.7), "attendee_id", {
                       "name": person("name", "en_US"), "email": email("en_US")}),
                   "tickets": table("A sold ticket.", fixed(1000), "ticket_id", {
                       "event_id": fk("events", zipf=True), "attendee_id": fk("attendees"),
                       "tier": enum(["standing", "seated", "vip"]), "price": money(15, 600), "sold_at": when()}),
               })
    yield spec("real_estate", "Real estate agency: agents, property listings for sale or rent, viewings and "
               "offers.", "viewings", {
                   "agents": table("Estate agents.", fixed(60), "agent_id", {
                       "name": person("name", "en_US"), "phone": phone(1)}),
                   "properties": table("Listings.", per("viewings", 0.2), "property_id", {
                       "agent_id": fk("agents"), "address": text("street_address"),
                       "kind": enum(["flat", "house", "office"]), "asking_price": money(50000, 3000000),
                       "bedrooms": number(0, 6, 0, 20)}),
                   "viewings": table("A visit of a property.", fixed(1000), "viewing_id", {
                       "property_id": fk("properties", zipf=True), "visitor": person("name", "en_US"),
                       "viewed_at": when()}),
                   "offers": table("Bids on a property.", per("viewings", 0.2), "offer_id", {
                       "property_id": fk("properties"), "amount": money(40000, 3000000), "made_at": when()}),
               })
    yield spec("telecom_usage", "Mobile operator: subscribers on tariffs, call and data records, monthly bills.",
               "call_records", {
                   "subscribers": table("SIM card holders.", per("call_records", 0.05), "subscriber_id", {
                       "name": person("name", "en_US"), "msisdn": phone(1),
                       "tariff": enum(["prepaid", "postpaid", "business"])}),
                   "call_records": table("Calls, SMS and data sessions.", fixed(1000), "call_record_id", {
                       "subscriber_id": fk("subscribers", zipf=True), "kind": enum(["voice", "sms", "data"]),
                       "duration_s": number(1, 3600, 0, 86400), "started_at": when()}),
                   "bills": table("Monthly bills.", per("call_records", 0.1), "bill_id", {
                       "subscriber_id": fk("subscribers"), "amount": money(5, 300), "issued_at": when()}),
               })
    yield spec("online_courses", "E-learning platform: students enrol in courses, watch lessons, take quizzes "
               "and get grades.", "enrollments", {
                   "students": table("Learners.", per("enrollments", 0.4), "student_id", {
                       "name": person("name", "en_US"), "email": email("en_US"), "country": text("country")}),
                   "courses": table("Course catalogue.", fixed(120), "course_id", {
                       "title": text("catch_phrase"), "level": enum(["beginner", "intermediate", "advanced"]),
                       "price": money(0, 300)}),
                   "enrollments": table("A student in a course.", fixed(1000), "enrollment_id", {
                       "student_id": fk("students"), "course_id": fk("courses", zipf=True), "enrolled_at": when(),
                       "grade": number(0, 100, 0, 100)}),
                   "lesson_views": table("Video lessons watched.", per("enrollments", 6), "lesson_view_id", {
                       "enrollment_id": fk("enrollments"), "watched_seconds": number(5, 3600, 0, 86400),
                       "viewed_at": when()}),
               })
    yield spec("music_streaming", "Music streaming service: listeners, artists, tracks and every play with "
               "listening time.", "plays", {
                   "listeners": table("Accounts.", per("plays", 0.02), "listener_id", {
                       "username": text("user_name"), "country": text("country_code"),
                       "subscription": enum(["free", "premium", "family"])}),
                   "artists": table("Performers.", fixed(200), "artist_id", {
                       "name": text("name"), "genre": enum(["pop", "rock", "jazz", "hiphop", "classical"])}),
                   "tracks": table("Songs.", per("plays", 0.05, 100), "track_id", {
                       "artist_id": fk("artists", zipf=True), "title": text("sentence"),
                       "length_s": number(60, 600, 1, 3600)}),
                   "plays": table("One stream of a track.", fixed(1000), "play_id", {
                       "listener_id": fk("listeners", zipf=True), "track_id": fk("tracks", zipf=True),
                       "played_at": when(), "seconds_listened": number(1, 600, 0, 3600)}),
               })
    yield spec("b2b_wholesale", "B2B wholesale distributor: business customers, purchase orders with lines, "
               "invoices on net terms.", "purchase_orders", {
                   "companies": table("Business buyers.", per("purchase_orders", 0.1), "company_id", {
                       "company_name": text("company"), "vat_id": text("iban"), "city": text("city")}),
                   "articles": table("Wholesale articles.", fixed(500), "article_id", {
                       "name": text("catch_phrase"), "pack_size": number(1, 100, 1, 1000),
                       "unit_price": money(1, 500)}),
                   "purchase_orders": table("A B2B order.", fixed(1000), "purchase_order_id", {
                       "company_id": fk("companies", zipf=True), "ordered_at": when(),
                       "terms": enum(["net30", "net60", "prepaid"])}),
                   "po_lines": table("Order lines.", children("purchase_orders", "purchase_order_id", 1, 10),
                                     "po_line_id", {"purchase_order_id": fk("purchase_orders"),
                                                    "article_id": fk("articles", zipf=True),
                                                    "quantity": number(1, 500, 1, 10000)}, row_errors=()),
                   "invoices": table("Invoices.", children("purchase_orders", "purchase_order_id", 1, 1),
                                     "invoice_id", {"purchase_order_id": fk("purchase_orders"),
                                                    "amount": money(10, 50000), "due_at": when()}, row_errors=()),
               })
    yield spec("hospital_admissions", "Hospital: patients admitted to wards, diagnoses, lab results and "
               "discharges.", "admissions", {
                   "patients": table("Admitted people.", per("admissions", 0.6), "patient_id", {
                       "name": person("name", "en_US"), "age": number(0, 100, 0, 120),
                       "sex": enum(["female", "male", "unknown"])}),
                   "wards": table("Hospital wards.", fixed(25), "ward_id", {
                       "ward_name": enum(["cardiology", "oncology", "maternity", "icu", "surgery"])}),
                   "admissions": table("A hospital stay.", fixed(1000), "admission_id", {
                       "patient_id": fk("patients"), "ward_id": fk("wards"), "admitted_at": when(),
                       "discharged_at": after("admitted_at", 4, 900, required=False),
                       "diagnosis": text("word")}),
                   "lab_results": table("Blood tests.", children("admissions", "admission_id", 0, 5),
                                        "lab_result_id", {"admission_id": fk("admissions"),
                                                          "test": enum(["glucose", "hemoglobin", "crp"]),
                                                          "value": money(0, 300)}, row_errors=()),
               })
    yield spec("bank_transactions", "Retail bank: customers, accounts, card payments and transfers in the "
               "transaction ledger.", "transactions", {
                   "customers": table("Bank clients.", per("transactions", 0.05), "customer_id", {
                       "name": person("name", "en_US"), "email": email("en_US"), "phone": phone(1)}),
                   "accounts": table("Current and savings accounts.", per("transactions", 0.08), "account_id", {
                       "customer_id": fk("customers"), "iban": text("iban"),
                       "kind": enum(["current", "savings", "credit"])}),
                   "transactions": table("Money movements.", fixed(1000), "transaction_id", {
                       "account_id": fk("accounts", zipf=True), "amount": money(1, 10000),
                       "kind": enum(["card", "transfer", "atm", "fee"]), "booked_at": when(),
                       "merchant": text("company", required=False)}),
               })
    yield spec("insurance_claims", "Insurance company: policyholders, car and home policies, claims with "
               "damage amounts and their status.", "claims", {
                   "policyholders": table("Insured people.", per("claims", 0.8), "policyholder_id", {
                       "name": person("name", "en_US"), "birth_year": number(1930, 2006, 1900, 2026),
                       "email": email("en_US")}),
                   "policies": table("Insurance contracts.", per("claims", 1.2), "policy_id", {
                       "policyholder_id": fk("policyholders"), "product": enum(["car", "home", "travel", "life"]),
                       "premium": money(50, 5000), "starts_at": when("2020-01-01", "2024-01-01")}),
                   "claims": table("A reported damage.", fixed(1000), "claim_id", {
                       "policy_id": fk("policies"), "reported_at": when(), "claimed_amount": money(50, 200000),
                       "status": enum(["open", "approved", "rejected", "paid"])}),
               })
    yield spec("crm_sales_pipeline", "Sales CRM: companies, contacts, deals in pipeline stages and logged "
               "activities such as calls and meetings.", "deals", {
                   "companies": table("Prospects and clients.", per("deals", 0.3), "company_id", {
                       "name": text("company"), "industry": enum(["retail", "finance", "health", "tech"])}),
                   "contacts": table("People at companies.", per("deals", 0.6), "contact_id", {
                       "company_id": fk("companies"), "name": person("name", "en_US"), "email": email("en_US"),
                       "phone": phone(1)}),
                   "deals": table("Opportunities.", fixed(1000), "deal_id", {
                       "company_id": fk("companies", zipf=True), "stage": enum(["lead", "qualified", "proposal",
                                                                                "won", "lost"]),
                       "value": money(500, 500000), "opened_at": when()}),
                   "activities": table("Calls, e-mails, meetings.", per("deals", 4), "activity_id", {
                       "deal_id": fk("deals"), "contact_id": fk("contacts"),
                       "kind": enum(["call", "email", "meeting"]), "logged_at": when()}),
               })


def all_specs():
    yield from builtin_specs()
    yield from shop_specs()
    yield from industry_specs()


def main():
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.yaml"):
        old.unlink()
    for data in all_specs():
        spec_ = parse_spec(data, data["name"])
        generate(spec_, 200, 1, "bench", "specs")
        (OUT / f"{spec_.name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110))
        print(spec_.name)


if __name__ == "__main__":
    main()
