"""The console's sign-in and form rules, without a browser: a real node over real TLS, a cookie-keeping client.

The API key turns into a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS, scoped to /console) and
never appears in a URL or a page; every POST needs the session's form token; sessions end at sign-out and after
`management.console_session_timeout` idle seconds; the cookie is no way into the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from console.kit import ConsoleClient, csrf_of
from nodekit import API_KEY, Participant, get, make_participant, running_node, write_config

from connector.console.sessions import COOKIE

pytestmark = pytest.mark.e2e


def _config(p: Participant, root: Path, tls: bool, extra: str = "") -> Path:
    path = write_config(p, root)
    text = path.read_text()
    lines = f'tls_cert = "{p.tls_cert}"\ntls_key = "{p.tls_key}"\n' if tls else ""
    path.write_text(text.replace("[management]\n", f"[management]\n{lines}{extra}", 1))
    return path


@pytest.fixture
def org(authority, tmp_path) -> Participant:
    return make_participant(authority, tmp_path, "org")


def _https(p: Participant) -> tuple[str, ssl.SSLContext]:
    return f"https://localhost:{p.management_port}/console", ssl.create_default_context(
        cafile=str(p.authority.ca_cert_path)
    )


@contextlib.asynccontextmanager
async def console_of(org: Participant, root: Path, tls: bool = False, extra: str = "") -> AsyncIterator[ConsoleClient]:
    """The node of `org` running, and a client of its console that has not signed in."""
    async with running_node(_config(org, root, tls, extra)):
        if tls:
            base, ctx = _https(org)
            client = ConsoleClient(base, ctx)
        else:
            client = ConsoleClient(f"http://127.0.0.1:{org.management_port}/console")
        try:
            yield client
        finally:
            await client.close()


def _set_cookie(resp) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie


def _raw_set_cookie(resp) -> str:
    return next(h for h in resp.headers.getall("Set-Cookie", []) if h.startswith(COOKIE + "="))


async def test_the_key_becomes_a_strict_httponly_secure_cookie_and_never_shows(org, tmp_path):
    async with console_of(org, tmp_path, tls=True) as client:
        resp, _ = await client.get("/")  # not signed in: to the sign-in page, remembering where to go
        assert resp.history[0].status == 303
        assert resp.url.path == "/console/login" and resp.url.query["next"] == "/console/"
        before = _raw_set_cookie(resp)
        for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/console"):
            assert flag.lower() in before.lower(), before
        resp, page = await client.login()
        assert resp.status == 200 and resp.history[0].status == 303 and resp.url.path == "/console/"
        after = _raw_set_cookie(resp.history[0])
        for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/console"):
            assert flag.lower() in after.lower(), after
        assert before.split(";")[0] != after.split(";")[0]  # a new session id once signed in
        for path in (
            "/",
            "/catalog",
            "/negotiations",
            "/transfers",
            "/agreements",
            "/evidence",
            "/assets",
            "/assets/new",
            "/policies",
            "/offers",
            "/offers/new",
            "/api",
        ):
            resp, page = await client.get(path)
            assert resp.status == 200, (path, page[:300])
            assert API_KEY not in page, path
            assert resp.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert client.urls and not [u for u in client.urls if API_KEY in u]


async def test_over_plain_http_the_cookie_is_not_secure_and_the_api_still_wants_its_key(org, tmp_path):
    async with console_of(org, tmp_path) as client:
        resp, _ = await client.login()
        cookie = _raw_set_cookie(resp.history[0])
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert "secure" not in cookie.lower().replace("samesite", "")
        session = _set_cookie(resp.history[0])[COOKIE].value
        status, body = await get(
            f"http://127.0.0.1:{org.management_port}/v1/assets", headers={"Cookie": f"{COOKIE}={session}"}
        )
        assert status == 401 and body["code"] == "auth.api_key"  # a console session is no API credential


async def test_a_wrong_key_is_refused_and_grants_nothing(org, tmp_path):
    async with console_of(org, tmp_path) as client:
        resp, page = await client.login("x" * len(API_KEY))
        assert resp.status == 401 and "not this node&#39;s API key" in page
        assert "x" * len(API_KEY) not in page
        resp, _ = await client.get("/assets")
        assert resp.url.path == "/console/login"
        resp, page = await client.login("")
        assert resp.status == 401


async def test_every_post_without_the_form_token_is_refused(org, tmp_path):
    async with console_of(org, tmp_path) as client:
        # The sign-in form too: no token, or another session's token.
        resp, _ = await client.post("/login", {"key": API_KEY})
        assert resp.status == 403
        other = ConsoleClient(client.base)
        _, page = await other.get("/login")
        await other.close()
        resp, _ = await client.post("/login", {"key": API_KEY, "csrf": csrf_of(page)})
        assert resp.status == 403
        await client.login()
        _, page = await client.get("/assets/new")
        token = csrf_of(page)
        asset = {
            "id": "sneaky",
            "source": '{"type": "http", "url": "https://backend.example/x.csv"}',
            "formats": "HttpData-PULL",
        }
        for fields in (asset, {**asset, "csrf": ""}, {**asset, "csrf": token[:-2] + "xx"}):
            resp, page = await client.post("/assets/new", fields)
            assert resp.status == 403, fields
            assert "not sent by the console page" in page
        for path in ("/logout", "/evidence/checkpoint", "/catalog/negotiate", "/assets/weather/delete"):
            resp, _ = await client.post(path, {})
            assert resp.status == 403, path
        status, body = await get(
            f"http://127.0.0.1:{org.management_port}/v1/assets/sneaky", headers={"X-Api-Key": API_KEY}
        )
        assert status == 404  # nothing was created
        resp, _ = await client.post("/assets/new", {**asset, "csrf": token})
        assert resp.status == 200 and resp.history[0].status == 303  # with the token it goes through


async def test_signing_out_ends_the_session_for_good(org, tmp_path):
    async with console_of(org, tmp_path) as client:
        resp, page = await client.login()
        session = _set_cookie(resp.history[0])[COOKIE].value
        resp, page = await client.post("/logout", {"csrf": csrf_of(page)})
        assert resp.url.path == "/console/login" and "You have signed out." in page
        removed = _raw_set_cookie(resp.history[0])
        assert 'connector_console=""' in removed and "max-age=0" in removed.lower()
        status, _ = await get(
            f"http://127.0.0.1:{org.management_port}/console/assets",
            headers={"Cookie": f"{COOKIE}={session}"},
            allow_redirects=False,
        )
        assert status == 303  # the old cookie opens nothing


async def test_an_idle_session_expires(org, tmp_path):
    async with console_of(org, tmp_path, extra="console_session_timeout = 0.5\n") as client:
        await client.login()
        resp, _ = await client.get("/assets")
        assert resp.url.path == "/console/assets"
        await asyncio.sleep(0.8)
        resp, page = await client.get("/assets")
        assert resp.url.path == "/console/login" and resp.url.query["expired"] == "1"
        assert "Your session has expired" in page


async def test_sign_in_only_leads_back_into_the_console(org, tmp_path):
    async with console_of(org, tmp_path) as client:
        for target in ("https://elsewhere.example/", "//elsewhere.example/console/", "/v1/assets"):
            _, page = await client.get("/login")
            resp, _ = await client.post("/login", {"csrf": csrf_of(page), "key": API_KEY, "next": target})
            assert resp.url.path == "/console/", target
            client.jar.clear()
        _, page = await client.get("/login?next=/console/evidence")
        assert re.search(r'name="next" value="/console/evidence"', page)


async def test_the_console_can_be_turned_off(org, tmp_path):
    async with running_node(_config(org, tmp_path, tls=False, extra="console = false\n")):
        status, body = await get(f"http://127.0.0.1:{org.management_port}/console/login")
        assert status == 401 and body["code"] == "auth.api_key"  # no such route: the API's answer


async def test_a_console_address_that_does_not_exist_is_a_console_page_not_an_api_key_problem(org, tmp_path):
    async with console_of(org, tmp_path) as client:
        resp, _ = await client.get("/negotiatons")  # a typo, before signing in: the sign-in leads back to it
        assert resp.url.path == "/console/login" and resp.url.query.get("next") == "/console/negotiatons"
        await client.login()
        for typo in ("/negotiatons", "/evidence/nosuch"):
            resp, page = await client.get(typo)
            assert resp.status == 404 and resp.content_type == "text/html", (typo, page)
            assert "X-Api-Key" not in page and f"/console{typo}" in page, page
