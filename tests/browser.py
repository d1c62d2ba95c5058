"""Headless Chromium for page tests, as a user sees a page: Debian's ``chromium`` driven by Selenium.

CI installs the browser (``.ci/run`` runs ``apt-get install chromium chromium-driver`` as root); Selenium
is told where it is, so it never downloads a browser or a driver.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)


def _which(names: tuple[str, ...]) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError(f"no {names[0]} on PATH: install it with 'apt-get install -y chromium chromium-driver'")


@contextmanager
def headless_chromium(width: int = 1280, height: int = 900) -> Iterator:
    """A Selenium driver for a fresh headless Chromium; console messages are readable with
    ``driver.get_log("browser")``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _which(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(_which(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The page's console messages at level SEVERE (errors, uncaught exceptions, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
