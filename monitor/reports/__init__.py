"""Rollup reports that people read: a ``Report`` value built from the store, and its renderers.

- ``model``: the report's values, which are also its JSON and that JSON's schema;
- ``build``: which windows a report covers and how each number is computed from the store;
- ``text`` and ``cells``: how numbers and table cells read for people (shared by every format
  and by the web pages);
- ``formats``: JSON, Markdown and CSV; ``terminal``: rich tables (the only module that loads a
  terminal library, imported only by the commands that print to one);
- ``files``: the daemon's per-window report files.
"""
