"""The Workbench dashboard: ``workbench ui`` (or ``streamlit run ui/app.py -- --home DIR [--allow-launch]``).

``workbench ui`` listens on 127.0.0.1; so does ``streamlit run`` from the checkout (``.streamlit/config.toml``).

Reads the workspace named by ``WORKBENCH_HOME`` (set by ``workbench ui --home``) or by the
``--home`` argument after ``--``; read-only unless launching is allowed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # pages import ui.* and workbench.* from a source checkout
    sys.path.insert(0, str(ROOT))


def _args() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--home")
    parser.add_argument("--allow-launch", action="store_true")
    known, _ = parser.parse_known_args(sys.argv[1:])
    if known.home:
        os.environ["WORKBENCH_HOME"] = str(Path(known.home).resolve())
    if known.allow_launch:
        os.environ["WORKBENCH_UI_ALLOW_LAUNCH"] = "1"


_args()

import optuna  # noqa: E402
import streamlit as st  # noqa: E402

from ui import data, nav  # noqa: E402
from ui.server import fix_image_responses  # noqa: E402

fix_image_responses()  # `streamlit run ui/app.py` too (`workbench ui` applies it before the server starts)
optuna.logging.set_verbosity(optuna.logging.WARNING)
st.set_page_config(page_title="Workbench", page_icon=str(ROOT / "ui" / "favicon.png"), layout="wide")
navigation = st.navigation(nav.build(allow_launch=data.allow_launch()))
# Links between pages (st.page_link) look like links, not like plain text.
st.html(
    "<style>[data-testid=stMain] [data-testid=stPageLink-NavLink] *{color:#1c6dd0 !important}"
    "[data-testid=stMain] [data-testid=stPageLink-NavLink]:hover p{text-decoration:underline}</style>"
)
with st.sidebar:
    st.caption(f"workspace `{data.home()}`")
    if data.allow_launch():
        st.caption(":orange[launch mode]: experiments can be started and stopped")
    else:
        st.caption("read-only")
    if not st.get_option("server.address"):  # `streamlit run` elsewhere than this checkout: every interface
        st.warning("listening on every network interface: start with `workbench ui` (127.0.0.1 only)")
try:
    navigation.run()
finally:
    data.warm_up()  # after the first page is served: the warm-up's imports would otherwise slow it down
