"""Chaos Toolkit probes of CloudShop's experiments (the JSON files beside this one).

Python providers, imported by `chaos run` from this folder (`cloudshop cluster
chaos` puts it on PYTHONPATH). Only the standard library: the experiments run
with nothing but `chaostoolkit` and `chaostoolkit-kubernetes` installed.

Every probe reaches the shop as a client outside the cluster does: by a URL,
optionally connected to another address (as `curl --connect-to` does, so that
`https://api-gateway.cloudshop-prod.svc.cluster.local:8080` is verified by its
name against the cluster's CA while the connection goes to the Service's
ClusterIP). The shopper's password and token never leave this module: the
journal gets counts, order ids and statuses only.
"""

import http.client
import json
import secrets
import socket
import ssl
import threading
import time
import uuid
from typing import Optional
from urllib.parse import urlsplit

from chaoslib.exceptions import ActivityFailed

__all__ = ["answers", "availability", "orders_survive"]


class _Connection(http.client.HTTPSConnection):
    """HTTP or HTTPS to `connect_to` ("host:port") for a URL's host name."""

    def __init__(self, url: str, connect_to: Optional[str], ca_file: Optional[str], timeout: float):
        parts = urlsplit(url)
        self._tls = parts.scheme == "https"
        port = parts.port or (443 if self._tls else 80)
        context = None
        if self._tls:
            context = ssl.create_default_context(cafile=ca_file or None)
        super().__init__(parts.hostname, port, timeout=timeout, context=context)
        if connect_to:
            host, _, connect_port = connect_to.rpartition(":")
            self._address = (host, int(connect_port))
        else:
            self._address = (parts.hostname, port)

    def connect(self):
        sock = socket.create_connection(self._address, self.timeout)
        if self._tls:
            sock = self._context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def _request(
    method: str,
    url: str,
    *,
    connect_to: Optional[str] = None,
    ca_file: Optional[str] = None,
    timeout: float = 2.0,
    body: Optional[dict] = None,
    headers: Optional[dict] = None,
):
    """(status, parsed JSON body or None); raises OSError or
    http.client.HTTPException when no answer came."""
    connection = _Connection(url, connect_to, ca_file, timeout)
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    sent = dict(headers or {})
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        sent["content-type"] = "application/json"
    try:
        connection.request(method, target, body=payload, headers=sent)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    parsed = None
    if data and response.getheader("content-type", "").startswith("application/json"):
        parsed = json.loads(data)
    return response.status, parsed


def answers(url: str, connect_to: Optional[str] = None, ca_file: Optional[str] = None, timeout: float = 2.0) -> int:
    """The status of one GET of `url`, 0 when nothing answered."""
    try:
        status, _ = _request("GET", url, connect_to=connect_to, ca_file=ca_file, timeout=timeout)
        return status
    except (OSError, http.client.HTTPException):
        return 0


def availability(
    url: str,
    seconds: float,
    every: float = 0.25,
    timeout: float = 2.0,
    connect_to: Optional[str] = None,
    ca_file: Optional[str] = None,
    floor_percent: Optional[float] = None,
) -> dict:
    """GETs `url` every `every` seconds for `seconds`, each request on its own
    thread (one that hangs does not delay the next), and reports how many
    answered 200 and the longest time between two answered requests. Fails
    when the share answered is below `floor_percent`."""
    results = []
    lock = threading.Lock()
    started = time.monotonic()

    def one(at: float):
        status = answers(url, connect_to, ca_file, timeout)
        with lock:
            results.append((at, status))

    threads = []
    tick = 0
    while True:
        at = tick * every
        if at >= seconds:
            break
        delay = started + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(at,), daemon=True)
        thread.start()
        threads.append(thread)
        tick += 1
    for thread in threads:
        thread.join(timeout + 1)
    results.sort()
    answered = [at for at, status in results if status == 200]
    gap, previous = 0.0, 0.0
    for at in answered + [seconds]:
        gap = max(gap, at - previous)
        previous = at
    asked = len(threads)
    failed = [{"at_s": round(at, 2), "status": status} for at, status in results if status != 200]
    report = {
        "url": url,
        "asked": asked,
        "answered": len(answered),
        "percent": round(100.0 * len(answered) / max(asked, 1), 2),
        "longest_gap_s": round(gap, 2),
        "failed": failed[:20],
    }
    if floor_percent is not None and report["percent"] < floor_percent:
        raise ActivityFailed(f"{url} answered {report['percent']} % (< {floor_percent} %): {json.dumps(report)}")
    return report


class _Api:
    def __init__(self, base: str, connect_to: Optional[str], ca_file: Optional[str], timeout: float):
        self.base = base.rstrip("/")
        self.connect_to = connect_to
        self.ca_file = ca_file
        self.timeout = timeout
        self.token = None

    def call(self, method: str, path: str, body=None, headers=None):
        sent = dict(headers or {})
        if self.token:
            sent["authorization"] = f"Bearer {self.token}"
        return _request(
            method,
            self.base + path,
            connect_to=self.connect_to,
            ca_file=self.ca_file,
            timeout=self.timeout,
            body=body,
            headers=sent,
        )

    def expect(self, method: str, path: str, body=None, statuses=(200,)):
        status, parsed = self.call(method, path, body)
        if status not in statuses:
            raise ActivityFailed(f"{method} {path}: status {status}: {parsed}")
        return parsed

    def all_orders(self) -> list:
        orders, page = [], 1
        while True:
            got = self.expect("GET", f"/api/orders?page={page}&per_page=100")
            orders.extend(got["items"])
            if len(orders) >= got["total"] or not got["items"]:
                return orders
            page += 1


def orders_survive(
    api_url: str,
    seconds: float,
    every: float = 0.5,
    connect_to: Optional[str] = None,
    ca_file: Optional[str] = None,
    timeout: float = 5.0,
    settle_seconds: float = 90.0,
) -> dict:
    """A new shopper orders one unit of the best-stocked product every `every`
    seconds for `seconds`, each order under its own Idempotency-Key and sent
    again with that key until the shop answers (at most 30 s), so every order
    ends acknowledged. Then, once no order of the shopper is PENDING (the
    orders service finishes those on retry or in its reconciler; at most
    `settle_seconds`): every acknowledged order is in the shopper's history
    with its status, and the product's stock fell by exactly the units of the
    CONFIRMED orders. Fails on a lost order, a pending one, or stock that does
    not add up (other shoppers ordering the same product meanwhile would
    break the count: run it on a shop nobody else uses)."""
    api = _Api(api_url, connect_to, ca_file, timeout)
    email = f"chaos-{uuid.uuid4().hex[:12]}@example.com"
    password = secrets.token_urlsafe(18) + "-Aa1!"
    api.expect("POST", "/api/auth/register", {"email": email, "password": password}, statuses=(200, 201))
    api.token = api.expect("POST", "/api/auth/login", {"email": email, "password": password})["access_token"]
    products = api.expect("GET", "/api/products?per_page=100")["items"]
    product = max(products, key=lambda p: p["stock"])
    stock_before = product["stock"]

    acknowledged = {}
    retried, gave_up = 0, []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        key = str(uuid.uuid4())
        body = {"lines": [{"product_id": product["id"], "quantity": 1}]}
        deadline = time.monotonic() + 30
        while True:
            try:
                status, parsed = api.call("POST", "/api/orders", body, {"idempotency-key": key})
            except (OSError, http.client.HTTPException):
                status, parsed = 0, None
            if status in (200, 201):
                acknowledged[parsed["id"]] = parsed["status"]
                break
            if status == 409 and parsed and "order" in parsed:
                acknowledged[parsed["order"]["id"]] = parsed["order"]["status"]
                break
            if time.monotonic() > deadline:
                gave_up.append(key)
                break
            retried += 1
            time.sleep(0.2)
        pause = every - (time.monotonic() - started) % every
        time.sleep(pause)

    settle = time.monotonic() + settle_seconds
    while True:
        history = {o["id"]: o for o in api.all_orders()}
        pending = [i for i, o in history.items() if o["status"] == "PENDING"]
        if not pending or time.monotonic() > settle:
            break
        time.sleep(1)
    lost = sorted(i for i in acknowledged if i not in history)
    confirmed = sum(
        line["quantity"]
        for o in history.values()
        if o["status"] == "CONFIRMED"
        for line in o["lines"]
        if line["product_id"] == product["id"]
    )
    # The catalogue's cache follows the database's notifications: read the
    # stock again for a few seconds before calling it wrong.
    for _ in range(10):
        stock_after = api.expect("GET", f"/api/products/{product['id']}")["stock"]
        if stock_before - stock_after == confirmed:
            break
        time.sleep(1)
    statuses = {}
    for o in history.values():
        statuses[o["status"]] = statuses.get(o["status"], 0) + 1
    report = {
        "product_id": product["id"],
        "acknowledged": len(acknowledged),
        "retried_requests": retried,
        "unanswered_orders": len(gave_up),
        "in_history": len(history),
        "statuses": statuses,
        "lost": lost,
        "pending": pending,
        "stock_before": stock_before,
        "stock_after": stock_after,
        "units_confirmed": confirmed,
    }
    if lost or pending or gave_up or stock_before - stock_after != confirmed:
        raise ActivityFailed(f"orders lost, pending or miscounted: {json.dumps(report)}")
    return report
