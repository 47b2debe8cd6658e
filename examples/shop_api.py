"""The demo shop's order API: a small stand-in for Northwind Goods' own system, so the demo's actions
(examples/supportbot.yaml, `actions:`) have something real to call. `supportbot serve` mounts it at
the prefix the config's `apps:` names; it is the shop's code, not supportbot's.

    GET  /orders/{number}?postcode=...          the order's status, carrier and tracking
    POST /orders/{number}/returns               {"postcode": ...}: a return and its label link
    POST /orders/{number}/cancel                {"postcode": ...}: cancel an order not yet shipped
    POST /orders/{number}/address               {"postcode": ..., "address": ...}: deliver elsewhere, before dispatch
    GET  /orders/{number}/refund-quote?postcode=... what a refund would be (409 and the reason: none possible)
    POST /orders/{number}/refunds               {"postcode": ...}: refund a delivered order in full
    POST /memberships/cancel                    {"email": ..., "postcode": ...}: end Northwind Plus at the period's end

A customer acts on their own order (or membership) only: the postcode on it is the second factor. A wrong
postcode gets the same 404 as an unknown number, so a stranger learns nothing. A write with an
Idempotency-Key seen before gets the first answer again. Orders and members come from shop_orders.json
(days counted back from today); changes are kept in memory.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

ORDERS_FILE = Path(__file__).with_name("shop_orders.json")
NUMBER = re.compile(r"^NW-\d{5}$")
RETURN_DAYS = 30
PER_CLIENT = parse("120/minute")
ORDERS: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("orders", dict)
MEMBERS: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("members", dict)
RETURNS: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("returns", dict)
REFUNDS: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("refunds", dict)
SEEN: web.AppKey[dict[str, tuple[int, dict[str, Any]]]] = web.AppKey("seen", dict)
LIMITER: web.AppKey[MovingWindowRateLimiter] = web.AppKey("limiter", MovingWindowRateLimiter)


def _postcode(value: str) -> str:
    return "".join(value.split()).upper()


def _day(days_ago: int | None) -> str | None:
    return None if days_ago is None else (date.today() - timedelta(days=days_ago)).isoformat()


def _order(request: web.Request, postcode: str) -> tuple[str, dict[str, Any]]:
    number = request.match_info["number"].upper()
    if not NUMBER.fullmatch(number):
        raise web.HTTPBadRequest(text=json.dumps({"error": "order numbers look like NW-12345"}),
                                 content_type="application/json")
    order = request.app[ORDERS].get(number)
    if order is None or not postcode or _postcode(postcode) != _postcode(order["postcode"]):
        raise web.HTTPNotFound(text=json.dumps({"error": "no such order"}), content_type="application/json")
    return number, order


def _public(number: str, order: dict[str, Any]) -> dict[str, Any]:
    """What the bot may tell the customer: no e-mail, no address."""
    shipped = order.get("shipped_days_ago")
    eta = order.get("eta_days")
    return {"number": number, "status": order["status"], "ordered_on": _day(order.get("ordered_days_ago")),
            "shipped_on": _day(shipped), "delivered_on": _day(order.get("delivered_days_ago")),
            "expected_on": (date.today() + timedelta(days=eta)).isoformat() if eta is not None else None,
            "carrier": order.get("carrier"), "tracking": order.get("tracking"),
            "tracking_url": f"https://www.northwind-goods.example/track/{order['tracking']}"
            if order.get("tracking") else None,
            "items": [{"name": i["name"], "qty": i["qty"]} for i in order.get("items", [])],
            "total_eur": order.get("total_eur")}


async def get_order(request: web.Request) -> web.Response:
    number, order = _order(request, request.query.get("postcode", ""))
    return web.json_response(_public(number, order))


async def _write(request: web.Request, do: Any) -> web.Response:
    """A write on an order: the postcode from the JSON body checked against it, then do(app, number,
    order, payload); the first answer again for an Idempotency-Key seen before."""
    async def on_order(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        number, order = _order(request, str(payload.get("postcode", ""))[:20])
        return do(request.app, number, order, payload)

    return await _once(request, on_order)


async def _once(request: web.Request, do: Any) -> web.Response:
    """A write with a JSON object body, answered once per Idempotency-Key."""
    key = request.headers.get("Idempotency-Key", "")[:200]
    if key and key in request.app[SEEN]:
        status, body = request.app[SEEN][key]
        return web.json_response(body, status=status)
    try:
        payload = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "expected a JSON body"}), content_type="application/json")
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "expected a JSON object"}), content_type="application/json")
    status, body = await do(payload)
    if key:
        request.app[SEEN][key] = (status, body)
    return web.json_response(body, status=status)


def _not_refundable(app: web.Application, number: str, order: dict[str, Any]) -> str | None:
    """Why this order can't be refunded (None: it can)."""
    if number in app[REFUNDS]:
        return "it was refunded already"
    if order["status"] == "processing":
        return "it hasn't left our warehouse yet, so you can simply cancel it and the refund follows"
    if order["status"] != "delivered":
        return "it hasn't been delivered yet; once it arrives you can ask again"
    if order.get("delivered_days_ago", 0) > RETURN_DAYS:
        return f"it was delivered more than {RETURN_DAYS} days ago"
    return None


async def refund_quote(request: web.Request) -> web.Response:
    number, order = _order(request, request.query.get("postcode", ""))
    why = _not_refundable(request.app, number, order)
    if why:
        return web.json_response({"reason": why}, status=409)
    return web.json_response({"number": number, "amount_eur": order.get("total_eur"),
                              "products": [i["name"] for i in order.get("items", [])]})


def _refund(app: web.Application, number: str, order: dict[str, Any], payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    why = _not_refundable(app, number, order)
    if why:
        return 409, {"reason": why}
    body = {"refund_id": f"RF-{number[3:]}", "number": number, "amount_eur": order.get("total_eur"),
            "method": "original payment method"}
    app[REFUNDS][number] = body
    return 201, body


async def refund(request: web.Request) -> web.Response:
    return await _write(request, _refund)


async def start_return(request: web.Request) -> web.Response:
    return await _write(request, _return)


async def cancel(request: web.Request) -> web.Response:
    return await _write(request, _cancel)


async def change_address(request: web.Request) -> web.Response:
    return await _write(request, _address)


async def cancel_membership(request: web.Request) -> web.Response:
    async def end(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        email = str(payload.get("email", ""))[:200].strip().lower()
        member = request.app[MEMBERS].get(email)
        if member is None or _postcode(member["postcode"]) != _postcode(str(payload.get("postcode", ""))[:20]):
            raise web.HTTPNotFound(text=json.dumps({"error": "no such membership"}), content_type="application/json")
        ends_on = (date.today() + timedelta(days=member["renews_in_days"])).isoformat()
        member["cancelled"] = True
        return 200, {"plan": member["plan"], "status": "cancelled", "ends_on": ends_on}

    return await _once(request, end)


def _address(app: web.Application, number: str, order: dict[str, Any], payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    address = " ".join(str(payload.get("address", "")).split())[:200]
    if len(address) < 6:
        return 422, {"reason": "that doesn't look like a full address"}
    if order["status"] != "processing":
        return 409, {"reason": "it has already left our warehouse; the carrier's tracking page lets you redirect it"}
    order["address"] = address
    return 200, {"number": number, "address": address}


def _cancel(app: web.Application, number: str, order: dict[str, Any], payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if order["status"] == "cancelled":
        return 200, {"number": number, "status": "cancelled", "refund_eur": order.get("total_eur")}
    if order["status"] != "processing":
        return 409, {"reason": "it has already left our warehouse; once it arrives you can return it for free"}
    order["status"] = "cancelled"
    return 200, {"number": number, "status": "cancelled", "refund_eur": order.get("total_eur")}


def _return(app: web.Application, number: str, order: dict[str, Any], payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if number in app[RETURNS]:
        return 200, app[RETURNS][number]
    if order["status"] != "delivered":
        return 409, {"reason": "it hasn't been delivered yet, so there is nothing to return so far"}
    if order.get("delivered_days_ago", 0) > RETURN_DAYS:
        return 409, {"reason": f"it was delivered more than {RETURN_DAYS} days ago, past the return window"}
    ref = f"R-{number[3:]}"
    body = {"return_id": ref, "number": number, "label_url": f"https://www.northwind-goods.example/returns/label/{ref}",
            "drop_off_by": (date.today() + timedelta(days=14)).isoformat(), "carrier": order.get("carrier") or "DHL"}
    app[RETURNS][number] = body
    return 201, body


@web.middleware
async def limited(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.app[LIMITER].hit(PER_CLIENT, "shop", request.remote or "?"):
        raise web.HTTPTooManyRequests(text=json.dumps({"error": "too many requests"}), content_type="application/json")
    return await handler(request)


def create_app() -> web.Application:
    app = web.Application(middlewares=[limited], client_max_size=16 * 1024)
    app[LIMITER] = MovingWindowRateLimiter(MemoryStorage())
    data = json.loads(ORDERS_FILE.read_text(encoding="utf-8"))
    app[ORDERS], app[MEMBERS] = data["orders"], {k.lower(): v for k, v in data["members"].items()}
    app[RETURNS], app[REFUNDS], app[SEEN] = {}, {}, {}
    app.router.add_get("/orders/{number}", get_order)
    app.router.add_post("/orders/{number}/returns", start_return)
    app.router.add_post("/orders/{number}/cancel", cancel)
    app.router.add_get("/orders/{number}/refund-quote", refund_quote)
    app.router.add_post("/orders/{number}/refunds", refund)
    app.router.add_post("/orders/{number}/address", change_address)
    app.router.add_post("/memberships/cancel", cancel_membership)
    return app
