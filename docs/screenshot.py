"""Save a screenshot of an ``rnnkit inspect`` report (for docs/images/inspect.png), in headless Chromium.

    python docs/screenshot.py report.html docs/images/inspect.png [--hover 120]

``--hover N`` moves the mouse over character N first, so the hover card shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.browser, from a checkout

from tests.browser import console_errors, headless_chromium  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("png")
    parser.add_argument("--hover", type=int, default=None, help="show the hover card of this character")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    from selenium.webdriver import ActionChains
    from selenium.webdriver.common.by import By

    with headless_chromium(args.width, args.height) as driver:
        driver.get(Path(args.report).resolve().as_uri())
        if args.hover is not None:
            span = driver.find_elements(By.CSS_SELECTOR, "#text span")[args.hover]
            ActionChains(driver).move_to_element(span).perform()
        driver.save_screenshot(args.png)
        errors = console_errors(driver)
    for error in errors:
        print(f"console error: {error}", file=sys.stderr)
    print(f"wrote {args.png}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
