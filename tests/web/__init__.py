"""The web pages in a real browser: Debian's chromium driven by Playwright, against the daemon."""
