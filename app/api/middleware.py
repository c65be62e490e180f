"""Pure ASGI middleware: request-body limits (413 before parsing) and security headers."""

from __future__ import annotations

from collections.abc import Callable

from .schemas import dumps

Scope = dict
ASGIApp = Callable


class BodyLimit:
    """Refuse HTTP bodies over a limit with 413, before the app parses them.

    The limit is ``upload_limit`` for paths in ``upload_paths`` and ``limit`` elsewhere. A
    declared Content-Length over the limit is refused without reading the body; a chunked body
    is counted as it arrives.
    """

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int,
                 upload_paths: tuple[str, ...]) -> None:
        self.app, self.limit, self.upload_limit, self.upload_paths = (
            app, limit, upload_limit, upload_paths)

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit if scope["path"] in self.upload_paths else self.limit
        # multipart framing adds a little to the file itself
        if scope["path"] in self.upload_paths:
            limit += 64 * 1024
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    return await _too_large(send, limit)
        received = 0
        too_large = False

        async def counting_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)
        except Exception:
            if too_large and not started:
                await _too_large(send, limit)
            else:
                raise


class _BodyTooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    body = dumps({"error": {"code": "too_large", "field": "body",
                            "message": f"the request body is over the limit of {limit:,} bytes"}})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
       "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")

SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Add the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
