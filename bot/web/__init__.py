"""The aiohttp web server of `supportbot serve`: health, webhooks, browser chat."""
