"""``fexp ui``: a live, local, offline web dashboard over experiment sets (extra ``fexp[ui]``).

``data`` keeps the served rows, ``detail`` answers per-experiment questions, ``security``
guards every request, ``app`` is the Starlette application and ``server`` runs it on uvicorn.
The page itself is plain files in ``static/`` (no build step, nothing from a CDN).
"""
