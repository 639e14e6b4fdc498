"""Start Streamlit's server for the dashboard (what ``workbench ui`` runs), with :func:`fix_image_responses` applied.

``python ui/server.py run ui/app.py [streamlit options]`` is ``streamlit run ...`` with the fix in place
before the server answers its first request.
"""

from __future__ import annotations

import inspect
import sys


def fix_image_responses() -> bool:
    """Let Streamlit's gzip middleware send PNG/JPEG responses again (``/favicon.png``, ``st.image`` media).

    Streamlit 1.60's ``MediaAwareGZipMiddleware`` handles the ``http.response.start`` message itself and
    never sends it for a content type it excludes from compression, while newer Starlette responders (those
    that take ``exclude_content_types``) exclude images themselves and leave the start message to their own
    code. Together, every image response ends
    in ``RuntimeError: Expected ASGI message 'http.response.start'`` (a 500 with a traceback in the
    server's terminal): the favicon on each page load, and every image an artifact preview shows.
    Where Starlette's responders take ``exclude_content_types`` (the versions that do the exclusion),
    Streamlit's two responders are given Starlette's own handling back. Returns whether it patched.
    """
    try:
        from starlette.middleware.gzip import GZipResponder, IdentityResponder
        from streamlit.web.server.starlette import starlette_gzip_middleware as gz
    except ImportError:  # another Streamlit server: nothing to fix
        return False
    if "exclude_content_types" not in inspect.signature(IdentityResponder.__init__).parameters:
        return False  # an older Starlette: Streamlit's handling works with it
    patched = False
    for ours, theirs in (
        (getattr(gz, "_MediaAwareIdentityResponder", None), IdentityResponder),
        (getattr(gz, "_MediaAwareGZipResponder", None), GZipResponder),
    ):
        if ours is not None and ours.send_with_compression is not theirs.send_with_compression:
            ours.send_with_compression = theirs.send_with_compression  # type: ignore[method-assign]
            patched = True
    return patched


def main(argv: list[str]) -> int:
    """``streamlit <argv>`` in this process, after :func:`fix_image_responses`."""
    fix_image_responses()
    from streamlit.web import cli

    sys.argv = ["streamlit", *argv]
    try:
        cli.main()
    except SystemExit as done:
        return int(done.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
