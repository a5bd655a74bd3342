"""Debian's headless Chromium for the UI tests, driven by Playwright (which never downloads a browser here)."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .local_services import apt_install

CHROMIUM = "/usr/bin/chromium"
# No GPU, no QUIC, nothing that calls home: the only traffic is to the webserver on 127.0.0.1.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def ensure_chromium() -> str:
    if not Path(CHROMIUM).exists():
        apt_install("chromium")
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is not executable after installing Debian's chromium package")
    return CHROMIUM


@contextmanager
def browser_page(profile: Path) -> Iterator:
    """A page of a fresh Chromium with an empty profile (Playwright passes it as --user-data-dir)."""
    from playwright.sync_api import sync_playwright

    profile.mkdir(parents=True, exist_ok=False)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=ensure_chromium(), headless=True, args=FLAGS,
            viewport={"width": 1600, "height": 1000})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
