"""`GET /pixel` (a 1x1 transparent GIF) and `GET /pixel.js` (the snippet that fires it).

Raw ASGI, like the postback receiver. A pixel is an image on someone's page: it answers the
image whatever happens (a refusal must never break the page), and the reason goes to the
postback log, one row per request, as for postbacks. The result is also in the
`X-Postback-Result` header, for a developer looking at the browser's network panel.
"""

from __future__ import annotations

import logging
import struct
from functools import lru_cache

from postback.conversions import pixel, service
from postback.conversions.parsing import CLICKID_NAMES, Refused
from postback.conversions.reasons import Reason
from postback.conversions.receiver import MAX_PARAMS, bound_request, inbound_request
from postback.conversions.records import Outcome, PostbackRequest
from postback.kit.asgi import Receive, Scope, Send, header, query_pairs, without_nul
from postback.runtime import Runtime

log = logging.getLogger("postback.pixel")

# The first-party cookie a click sets on the tracker's domain (clicks/redirect.py), and the
# one the snippet keeps on the page's own domain: another name, since a page on the tracker's
# host would share the first, which is HttpOnly (a script can neither read nor replace it).
CLICK_COOKIE = "pb_clickid"
PAGE_COOKIE = "pb_page_clickid"


def _gif() -> bytes:
    """The smallest transparent 1x1 GIF: a two-colour palette whose colour 0 is transparent."""
    header_ = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)  # 1x1, global table of 2
    palette = b"\x00\x00\x00\xff\xff\xff"
    transparent = b"\x21\xf9\x04\x01\x00\x00\x00\x00"  # graphic control: colour 0 transparent
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # at 0,0, 1x1, no local table
    pixels = b"\x02\x02\x44\x01\x00"  # LZW, minimum code size 2: one pixel of colour 0
    return header_ + palette + transparent + image + pixels + b"\x3b"


GIF = _gif()
_GIF_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(GIF)).encode()),
    (b"cache-control", b"no-store"),
]


async def handle_pixel(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    request = inbound_request(rt, scope)
    bound_request(request)
    try:
        if request.method != "GET":
            raise Refused(Reason.METHOD_NOT_ALLOWED, "the pixel is loaded with GET")
        if not rt.pixel_limiter.allow(request.source_ip or ""):
            raise Refused(Reason.RATE_LIMITED, "too many pixels from this address")
        request.params = _params(request.query)
        outcome = await _process(rt, request, pixel.cookie_clickid(cookie(scope, CLICK_COOKIE)))
    except Refused as refused:
        outcome = await _log_only(rt, request, Outcome(refused.reason, refused.detail))
    result = str(outcome.reason).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*_GIF_HEADERS, (b"x-postback-result", result)],
        }
    )
    await send({"type": "http.response.body", "body": GIF if request.method != "HEAD" else b""})


def _params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in query_pairs(query):
        if len(params) >= MAX_PARAMS:
            break
        params.setdefault(without_nul(name), without_nul(value))
    return params


def cookie(scope: Scope, name: str) -> str | None:
    prefix = f"{name}="
    for part in (header(scope, b"cookie") or "").split(";"):
        part = part.strip()
        if part.startswith(prefix):
            return without_nul(part[len(prefix) :])[:64]
    return None


async def _process(rt: Runtime, request: PostbackRequest, clickid: str | None) -> Outcome:
    def job(conn: object) -> Outcome:
        return pixel.process(conn, request, clickid, rt.networks, rt.settings)  # type: ignore[arg-type]

    try:
        outcome: Outcome = await rt.writer.run_job(job)
    except Exception:
        log.exception("pixel failed: %s?%s", request.path, request.query[:512])
        return await _log_only(rt, request, Outcome(Reason.SERVER_ERROR, "try again later"))
    return outcome


async def _log_only(rt: Runtime, request: PostbackRequest, outcome: Outcome) -> Outcome:
    def job(conn: object) -> Outcome:
        service.write_log(conn, request, outcome, None, rt.networks)  # type: ignore[arg-type]
        return outcome

    try:
        await rt.writer.run_job(job)
    except Exception:
        log.exception("pixel log not written")
    return outcome


# --- the snippet ---------------------------------------------------------------------------

_SNIPPET = """/* Postback conversion pixel. First-party: served by your tracker, no other code. */
(function (w, d) {
  "use strict";
  var me = d.currentScript;
  var base = me ? me.src.replace(/\\/pixel\\.js(\\?.*)?$/, "") : "";
  var names = %(names)s;
  var cookie = "%(cookie)s";
  function fromUrl() {
    var q = new URLSearchParams(w.location.search);
    for (var i = 0; i < names.length; i++) {
      var v = q.get(names[i]);
      if (v) return v;
    }
    return "";
  }
  function fromCookie() {
    var m = d.cookie.match(new RegExp("(?:^|;\\\\s*)" + cookie + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }
  var id = fromUrl();
  if (id) {
    d.cookie = cookie + "=" + encodeURIComponent(id) + "; Path=/; Max-Age=%(max_age)d" +
      "; SameSite=Lax" + (w.location.protocol === "https:" ? "; Secure" : "");
  } else {
    id = fromCookie();
  }
  function fire(params) {
    var q = id ? ["clickid=" + encodeURIComponent(id)] : [];
    for (var k in params || {}) {
      if (params[k] != null && params[k] !== "") {
        q.push(encodeURIComponent(k) + "=" + encodeURIComponent(params[k]));
      }
    }
    var img = new Image(1, 1);
    img.src = base + "/pixel" + (q.length ? "?" + q.join("&") : "");
    return img;
  }
  w.postbackPixel = fire;
  if (me && me.hasAttribute("data-event")) {
    fire({ event: me.getAttribute("data-event"), txid: me.getAttribute("data-txid") });
  }
})(window, document);
"""


@lru_cache(maxsize=4)
def snippet(max_age_seconds: int) -> bytes:
    names = "[" + ", ".join(f'"{n}"' for n in CLICKID_NAMES) + "]"
    text = _SNIPPET % {"names": names, "cookie": PAGE_COOKIE, "max_age": max_age_seconds}
    return text.encode()


async def handle_snippet(rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
    body = snippet(int(rt.settings.default_lookback.total_seconds()))
    headers = [
        (b"content-type", b"text/javascript; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"public, max-age=3600"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""})
