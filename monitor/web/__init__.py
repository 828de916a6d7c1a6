"""The web pages, badges and browser sign-in the daemon serves beside its JSON API."""
