"""One headless chromium for a test module's browser tests.

A launch (with Playwright's own start) costs 1.5-2 s; a module whose tests each launched one
paid that per test. :func:`launched_chromium` starts one for a module-scoped fixture and
:func:`fresh_page` gives each test a page in a browser context of its own: no cookies,
storage or cache carried from one test to the next, as with a browser of its own.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

ARGS = ["--no-sandbox", "--headless", "--disable-gpu"]


@contextmanager
def launched_chromium():
    """A headless chromium under Playwright's sync API, closed at the block's end; skips the
    tests where Playwright or chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (uv sync installs it)")
    path = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is missing (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fresh_page(browser, **page_options):
    """A page in a new browser context (``page_options`` as for ``Browser.new_context``),
    closed with its context at the block's end."""
    context = browser.new_context(**page_options)
    try:
        yield context.new_page()
    finally:
        context.close()
