"""Signing in to the console with the API key, and the gate every console route passes.

The key is typed into a form and posted once; the browser then holds only a session cookie (HttpOnly,
SameSite=Strict, Secure on HTTPS, scoped to /console) and the key never appears in a URL or a page. Every form
carries the session's CSRF token, and a POST without it is refused (403) before its handler runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from connector.console.deferred import PREFIX
from connector.console.rendering import CONTEXT, Templates, secure_headers, see_other
from connector.console.sessions import COOKIE, Session, Sessions, same_token
from connector.web.middleware import own_authentication

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOME = PREFIX + "/"
SESSION_ID = web.RequestKey("console_session_id", str)
FORM = web.RequestKey("console_form", MultiDictProxy)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if target and target.startswith(HOME) and "//" not in target and "\\" not in target:
        return target
    return HOME


class Gate:
    def __init__(self, sessions: Sessions, api_key: str, templates: Templates, node: str) -> None:
        self.sessions = sessions
        self._key = api_key.encode()
        self.templates = templates
        self.node = node  # the participant id, for every page's header

    # --- the gate ---------------------------------------------------------------------------------------------

    def public(self, handler: Handler) -> Handler:
        """A route anyone may reach (the login form, the static files)."""

        async def served(request: web.Request) -> web.StreamResponse:
            return secure_headers(await handler(request))

        return own_authentication(served)

    def signed_in(self, handler: Handler) -> Handler:
        """A route for a signed-in operator; a POST must carry the session's form token."""

        async def gated(request: web.Request) -> web.StreamResponse:
            session_id = request.cookies.get(COOKIE)
            session, expired = self.sessions.find(session_id)
            if session is None or not session.authenticated or session_id is None:
                if request.method in ("GET", "HEAD"):
                    query = {"next": request.path_qs}
                    if expired:
                        query["expired"] = "1"
                    return secure_headers(see_other(f"{PREFIX}/login?{urlencode(query)}"))
                return self.refuse(request, "You are not signed in (or your session has expired): sign in again.")
            if request.method == "POST":
                form = await request.post()
                if not same_token(session.csrf, _text(form.get("csrf"))):
                    return self.refuse(request, "This form was not sent by the console page it belongs to.")
                request[FORM] = form
            request[SESSION_ID] = session_id
            request[CONTEXT] = self._context(session, self.sessions.take_notice(session_id), signed_in=True)
            return secure_headers(await handler(request))

        return own_authentication(gated)

    def _context(self, session: Session, notice: str | None, signed_in: bool) -> dict[str, Any]:
        return {"csrf": session.csrf, "notice": notice, "signed_in": signed_in, "node_id": self.node}

    def refuse(self, request: web.Request, reason: str) -> web.StreamResponse:
        request[CONTEXT] = {"csrf": "", "notice": None, "signed_in": False, "node_id": self.node}
        return self.templates.render(request, "refused.html", {"reason": reason}, status=403)

    def tell(self, request: web.Request, notice: str) -> None:
        """Say `notice` on the next page this session sees."""
        self.sessions.tell(request[SESSION_ID], notice)

    # --- signing in and out ------------------------------------------------------------------------------------

    def _cookie(self, request: web.Request, response: web.StreamResponse, session_id: str) -> None:
        response.set_cookie(COOKIE, session_id, path=PREFIX, httponly=True, samesite="Strict", secure=request.secure)

    def _login_page(
        self, request: web.Request, error: str | None = None, status: int = 200, notice: str | None = None
    ) -> web.StreamResponse:
        session_id, session = self.sessions.open(authenticated=False)
        request[CONTEXT] = self._context(session, notice, signed_in=False)
        context = {"error": error, "next": _safe_next(request.query.get("next"))}
        response = self.templates.render(request, "login.html", context, status=status)
        self._cookie(request, response, session_id)
        return response

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        session, _ = self.sessions.find(request.cookies.get(COOKIE))
        if session is not None and session.authenticated:
            return see_other(_safe_next(request.query.get("next")))
        self.sessions.close(request.cookies.get(COOKIE))
        notice = None
        if request.query.get("expired"):
            notice = "Your session has expired: sign in again."
        elif request.query.get("out"):
            notice = "You have signed out."
        return self._login_page(request, notice=notice)

    async def login(self, request: web.Request) -> web.StreamResponse:
        session_id = request.cookies.get(COOKIE)
        session, _ = self.sessions.find(session_id)
        form = await request.post()
        if session is None or not same_token(session.csrf, _text(form.get("csrf"))):
            return self.refuse(request, "This sign-in form has expired or was not sent by the console: reload it.")
        self.sessions.close(session_id)
        presented = _text(form.get("key")).strip().encode()
        if not presented or not hmac.compare_digest(presented, self._key):
            return self._login_page(request, "That is not this node's API key.", status=401)
        new_id, _ = self.sessions.open(authenticated=True)
        response = see_other(_safe_next(_text(form.get("next"))))
        self._cookie(request, response, new_id)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.close(request[SESSION_ID])
        response = see_other(f"{PREFIX}/login?out=1")
        response.del_cookie(COOKIE, path=PREFIX)
        return response


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
