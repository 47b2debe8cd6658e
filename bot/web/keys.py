"""Keys of the aiohttp application that several web modules share.

Here, below server.py and the pages it mounts, so a page reads the running service without
importing the module that imports it (bot.web.server builds the app, the pages only read it).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

# the running bot.service.Service (Any: the web layer sits below the roots and may not import service.py)
SERVICE: web.AppKey[Any] = web.AppKey("service", object)
