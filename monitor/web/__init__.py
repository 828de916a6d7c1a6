"""The web pages the daemon serves beside its API: the status page (``/``), the model pages,
the endpoint pages, the reports, the embeddable card and SVG badges (``badges.py``), and the
sign-in that lets a browser in when a token guards them (``auth.py``; docs/pages.md).

Server-rendered HTML (Jinja2 templates in ``templates/``) with charts drawn as SVG on the
server, a style sheet and one small script of our own in ``static/``: no CDN and no
third-party script, so the pages work on a machine without internet, and without JavaScript.
The numbers are the values the API serves (``monitor.service.shapes``, ``monitor.core.profile``)
written as the terminal and the reports write them (``monitor.reports.text``).

``page_routes(view, clock)`` gives the routes; ``monitor.api.app.create_app`` adds them.
"""

from __future__ import annotations

from monitor.web.routes import page_routes

__all__ = ["page_routes"]
