"""The web UI at /ui: static files (plain HTML, CSS and ES modules, no build step) packaged
with LinkFlow, which talk to this same API."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

# The UI's files and their content types: nothing else under /ui is served.
FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}


def _read(name: str) -> bytes:
    return resources.files("linkflow.api").joinpath("ui", name).read_bytes()


async def index(_request: web.Request) -> web.Response:
    return web.Response(body=_read("index.html"), content_type=FILES["index.html"])


async def redirect(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound(text=f"no such UI file: {name}")
    return web.Response(
        body=_read(name),
        content_type=FILES[name],
        headers={"Cache-Control": "no-cache"},  # a LinkFlow upgrade shows its UI at once
    )


ROUTES = (
    ("GET", "/ui", redirect),
    ("GET", "/ui/", index),
    ("GET", "/ui/{name}", asset),
)
