"""The Workbench dashboard (Streamlit): ``workbench ui`` serves ``ui/app.py``.

``app.py`` registers the pages (``views/*.py``, layout only; the folder is not called ``pages/``:
Streamlit treats a ``pages/`` folder as a legacy multipage app and would run a page without ``app.py``
on a first direct visit); ``data.py`` is the one cached
read model (``workbench.readmodel`` behind ``st.cache_data``); ``figures.py`` builds every
plotly chart; ``widgets.py`` holds layout pieces shared by several pages. ``server.py`` starts Streamlit's
server (``workbench ui`` runs it) with a fix for image responses applied first.
"""
