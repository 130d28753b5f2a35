"""A fault-injecting HTTP proxy on loopback, in front of an S3 endpoint (a test helper).

A seeded share of requests (`fault_rate`) gets one of these faults. The kinds come in
rounds shuffled by the seeded generator (`kinds` gives each kind's cards per round, one by
default), so every kind gets its share even in a short run:

- `503`: answered `503 SlowDown`; nothing reaches the store.
- `dropped`: the connection is closed without an answer; nothing reaches the store.
- `response_lost`: forwarded to the store, then the connection is closed without an answer
  (a PUT happened, but the client does not know and sends it again).
- `slow`: forwarded, then answered only after `slow_seconds` (set it above the client's read
  timeout: the client gives up and retries).
- `truncated`: forwarded, then answered with the whole headers and the real Content-Length
  but only half the body, and closed. Only GETs are cut short (a PUT's answer has no body):
  a `truncated` card waits in its round for the next faulty GET.

`rules` act on the requests they match (method and a part of the key) before any random
fault: an `ErrorRule` answers a fixed S3 error, a `FaultRule` injects one fault kind. Each
counts the matching requests that arrive (`rule_arrivals`).

For "nothing written twice" checks, `stored_puts[key]` lists every PUT that reached the store
for that key (`bucket/key`), with botocore's call id (`amz-sdk-invocation-id`, one per API
call and shared by its retries), the attempt number and whether the client got the store's
answer. The proxy listens on 127.0.0.1 only; leaving the `with` block stops it, including
answers still waiting to be sent, and an idle client connection is closed after
`IDLE_TIMEOUT`, so no thread lingers.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

FAULT_KINDS = ("503", "dropped", "response_lost", "slow", "truncated")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}
UPSTREAM_TIMEOUT = 30.0  # seconds for the store's answer
IDLE_TIMEOUT = 30.0  # seconds a client connection may sit idle before the proxy closes it


@dataclass(frozen=True)
class ErrorRule:
    """Answer `status` with S3 error `code` to requests of `method` whose key holds `key_part`.

    `times` answers only the first that many matching requests (None: all of them); the
    later ones go on as usual.
    """

    method: str
    key_part: str
    status: int
    code: str
    times: int | None = None

    def matches(self, method: str, key: str) -> bool:
        return method == self.method and self.key_part in key


@dataclass(frozen=True)
class FaultRule:
    """Inject fault `kind` into requests of `method` whose key holds `key_part`.

    `times` faults only the first that many matching requests (None: all of them).
    """

    method: str
    key_part: str
    kind: str
    times: int | None = None

    def matches(self, method: str, key: str) -> bool:
        return method == self.method and self.key_part in key


Rule = ErrorRule | FaultRule


@dataclass(frozen=True)
class StoredPut:
    """One PUT that reached the store."""

    call: str  # botocore's amz-sdk-invocation-id: the same for every retry of one call
    attempt: int  # botocore's attempt number within the call, 1 first
    answered: bool  # whether the client got the store's whole answer


ERROR_MESSAGES = {"SlowDown": "Please reduce your request rate.",
                  "AccessDenied": "Access Denied",
                  "NoSuchKey": "The specified key does not exist."}


def error_xml(code: str, key: str) -> bytes:
    """An S3 error document, as the service sends it."""
    message = ERROR_MESSAGES.get(code, code)
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message><Key>{key}</Key>"
            "<RequestId>fault-proxy</RequestId></Error>").encode()


def applies(kind: str, method: str) -> bool:
    """Whether a fault kind can hit a request: only answers with a body can be cut short."""
    return kind != "truncated" or method == "GET"


def object_key(path: str) -> str:
    """`bucket/key` of a path-style request path, without the query."""
    return unquote(urlparse(path).path).lstrip("/")


def attempt_of(header: str | None) -> int:
    """The attempt number in botocore's `amz-sdk-request: attempt=2; max=4` header."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "attempt" and value.isdigit():
            return int(value)
    return 1


class FaultProxy:
    """The proxy: `with FaultProxy(endpoint, 0.1) as proxy:` then send S3 calls to `proxy.url`."""

    def __init__(self, target: str, fault_rate: float, seed: int = 7,
                 kinds: Mapping[str, int] | None = None, slow_seconds: float = 3.0,
                 rules: Sequence[Rule] = ()) -> None:
        parsed = urlparse(target)
        self.target = (parsed.hostname, parsed.port)
        self.fault_rate = fault_rate
        self.kinds = dict(kinds or dict.fromkeys(FAULT_KINDS, 1))
        named = set(self.kinds) | {r.kind for r in rules if isinstance(r, FaultRule)}
        if unknown := named - set(FAULT_KINDS):
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        self.deck: list[str] = []  # the current round of fault kinds, in drawing order
        self.slow_seconds = slow_seconds
        self.rules = list(rules)
        self.rule_arrivals = [0] * len(self.rules)  # matching requests that arrived, per rule
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.counts: Counter[str] = Counter({"forwarded": 0, **dict.fromkeys(self.kinds, 0)})
        self.stored: Counter[tuple[str, str]] = Counter()  # (method, key) completed at the store
        self.stored_puts: dict[str, list[StoredPut]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()  # wakes answers waiting in a `slow` fault
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def written_twice(self, key_part: str = "") -> dict[str, int]:
        """Keys (holding `key_part`) PUT at the store by more than one call → extra calls.

        A botocore retry of a call is not a second write: it only follows an attempt whose
        answer the client did not get. A second call for the same key is.
        """
        return {key: len(calls) - 1 for key, calls in self._calls(key_part).items()
                if len(calls) > 1}

    def unexplained_retries(self, key_part: str = "") -> dict[str, int]:
        """Keys whose call PUT again at the store after an attempt the client got an answer to.

        Zero unless the client timed out on an answer the proxy did send (a stalled machine).
        """
        found = {}
        for key, calls in self._calls(key_part).items():
            extra = sum(earlier.answered for puts in calls.values()
                        for earlier in puts[:-1])
            if extra:
                found[key] = extra
        return found

    def _calls(self, key_part: str) -> dict[str, dict[str, list[StoredPut]]]:
        """Key → botocore call id → that call's PUTs at the store, in order."""
        found: dict[str, dict[str, list[StoredPut]]] = {}
        with self.lock:
            for key, puts in self.stored_puts.items():
                if key_part in key:
                    for put in puts:
                        found.setdefault(key, {}).setdefault(put.call, []).append(put)
        return found

    def _rule_for(self, method: str, key: str) -> Rule | None:
        """The first rule matching the request that still acts, counting arrivals."""
        with self.lock:
            for index, rule in enumerate(self.rules):
                if rule.matches(method, key):
                    self.rule_arrivals[index] += 1
                    if rule.times is None or self.rule_arrivals[index] <= rule.times:
                        return rule
        return None

    def _pick(self, method: str) -> str:
        """`forwarded`, or the next fault kind of the round that can hit this request."""
        with self.lock:
            if self.random.random() >= self.fault_rate:
                return "forwarded"
            if not any(cards > 0 and applies(kind, method) for kind, cards in self.kinds.items()):
                return "forwarded"  # no kind of this run can hit this request
            while True:
                for index, kind in enumerate(self.deck):
                    if applies(kind, method):
                        return self.deck.pop(index)
                round_ = [kind for kind, cards in self.kinds.items() for _ in range(cards)]
                self.random.shuffle(round_)
                self.deck += round_

    def _count(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1

    def _stored(self, method: str, key: str, headers, answered: bool) -> None:
        with self.lock:
            self.stored[(method, key)] += 1
            if method == "PUT":
                self.stored_puts.setdefault(key, []).append(StoredPut(
                    headers.get("amz-sdk-invocation-id", "?"),
                    attempt_of(headers.get("amz-sdk-request")), answered))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = IDLE_TIMEOUT  # no handler thread outlives its client for long

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

            def _serve(self) -> None:
                body = self._body()
                key = object_key(self.path)
                rule = proxy._rule_for(self.command, key)
                if isinstance(rule, ErrorRule):
                    proxy._count("rule")
                    self._answer(rule.status, {"Content-Type": "application/xml"},
                                 error_xml(rule.code, key))
                    return
                fault = rule.kind if rule else proxy._pick(self.command)
                if fault in ("503", "dropped"):
                    proxy._count(fault)
                    self._refuse(fault)
                    return
                status, headers, data = self._forward(body)
                if fault == "truncated" and len(data) < 2:
                    fault = "forwarded"  # nothing to cut short (an empty object)
                proxy._count(fault)
                proxy._stored(self.command, key, self.headers, answered=fault == "forwarded")
                if fault == "response_lost":
                    self._hang_up()
                elif fault == "slow":
                    if proxy.stopping.wait(proxy.slow_seconds):
                        self._hang_up()  # the proxy is stopping
                    else:
                        self._answer(status, headers, data)
                elif fault == "truncated":
                    self._answer(status, headers, data, cut_at=len(data) // 2)
                    self._hang_up()
                else:
                    self._answer(status, headers, data)

            def _refuse(self, fault: str) -> None:
                if fault == "dropped":
                    self._hang_up()
                else:
                    self._answer(503, {"Content-Type": "application/xml"},
                                 error_xml("SlowDown", object_key(self.path)))

            def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
                upstream = http.client.HTTPConnection(*proxy.target, timeout=UPSTREAM_TIMEOUT)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in HOP_BY_HOP}
                    headers["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    kept = {k: v for k, v in response.getheaders()
                            if k.lower() not in HOP_BY_HOP}
                    return response.status, kept, data
                finally:
                    upstream.close()

            def _hang_up(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):  # the client may have gone already
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _answer(self, status: int, headers: dict[str, str], data: bytes,
                        cut_at: int | None = None) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        if name.lower() != "content-length":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data if cut_at is None else data[:cut_at])
                    self.wfile.flush()
                except OSError:  # the client gave up (a `slow` answer)
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        return Handler
