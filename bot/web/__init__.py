"""HTTP pages the service serves to people (not platform callbacks): server-rendered, no scripts but
the console's own. The template environment and the packaged assets are shared by every page."""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

import jinja2

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("bot.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@functools.cache
def asset(name: str) -> bytes:
    """A stylesheet or script shipped in bot/web/assets/ (read once)."""
    return resources.files("bot.web").joinpath("assets", name).read_bytes()


@functools.cache
def asset_version(name: str) -> str:
    """A short digest of the asset, for its URL: a new release's file is fetched anew, not taken from a cache."""
    return hashlib.sha256(asset(name)).hexdigest()[:12]
