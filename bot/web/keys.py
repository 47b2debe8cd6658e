"""Keys of the aiohttp application that several web modules share.

Here, below server.py and the pages it mounts, so a page reads the running service without
importing the module that imports it (bot.web.server builds the app, the pages only read it).
"""

from __future__ import annotations

from aiohttp import web

SERVICE: web.AppKey = web.AppKey("service", object)  # the running bot.service.Service
