"""The operator console: a local web page on a live cell, served by the standard library.

It shows the planner's latest overlay (heatmap and chosen grasp), the gripper in use and its
confidence gates, the last plan and the last pick's result code, and the keypoint database's
objects with their preference counts. A click on the overlay annotates the selected object,
undo / clear / save act on it, and *Pick* asks the executor to pick the latest grasp; every
action's reply says what it stored or removed. The cell itself sits behind a
:class:`ConsoleBackend` (the ROS node ``operator_console`` is one), so nothing here imports ROS.

The server listens on 127.0.0.1 only and answers nothing without the random token it is made
with (``?token=`` or the ``X-Console-Token`` header): a request without it gets 403 and changes
nothing. Bad requests (malformed JSON, a pixel outside the overlay, an unknown object) get a 4xx
reply with ``{"error": ...}`` and change nothing either.
"""
from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Protocol
from urllib.parse import parse_qs, quote, urlsplit

from .json_http import BadRequest, JsonRequestHandler, RequestTooLarge, pixel_field

TOKEN_HEADER = "X-Console-Token"
DEFAULT_PORT = 8765
OBJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,63}")


class ConsoleError(RuntimeError):
    """The cell could not do what was asked (a node not running, no camera frame yet, a refusal)."""


class UnknownObject(LookupError):
    """An object neither in the database, nor the planner's current one, nor added on the page."""


class ConsoleBackend(Protocol):
    """What the console needs of a cell. Actions return what they changed, as JSON-able dicts,
    and raise :class:`ConsoleError` when the cell refuses or does not answer."""

    def state(self) -> dict:
        """Gripper, confidence gates, the planner's current object, last plan, last pick result."""

    def objects(self) -> dict[str, int]:
        """Every object the database holds, with its number of grasp preferences."""

    def overlay(self) -> tuple[bytes, int, int] | None:
        """The latest overlay as PNG with its width and height; None before the first."""

    def click(self, object_name: str, x: float, y: float) -> dict:
        """Annotate ``object_name`` at overlay pixel (x, y)."""

    def undo(self, object_name: str) -> dict:
        """Take back this session's latest annotation of ``object_name``."""

    def clear(self, object_name: str) -> dict:
        """Remove every grasp preference of ``object_name``."""

    def save(self, object_name: str) -> dict:
        """Export the database (the reply names the file)."""

    def pick(self) -> dict:
        """Ask the executor to pick the latest grasp."""


# What each refusal answers, most specific first.
ERROR_STATUS: tuple[tuple[type[Exception], HTTPStatus], ...] = (
    (RequestTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (UnknownObject, HTTPStatus.NOT_FOUND),
    (ConsoleError, HTTPStatus.CONFLICT),
    (ValueError, HTTPStatus.BAD_REQUEST),  # BadRequest: malformed JSON, a pixel outside the overlay
)


class OperatorConsole:
    """Serves ``backend`` on ``http://127.0.0.1:<port>/?token=...`` (port 0: a free one)."""

    def __init__(self, backend: ConsoleBackend, port: int = 0, token: str | None = None) -> None:
        self.backend = backend
        self.token = token or secrets.token_urlsafe(24)
        self.added: list[str] = []  # new object names typed on the page, not yet in the database
        self._lock = threading.Lock()  # one action at a time: each reply reports its own change
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address with the token: what the operator opens."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/?token={quote(self.token)}"

    def start(self) -> "OperatorConsole":
        """Serve from a thread of its own."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="operator_console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    def authorised(self, query_token: str | None, header_token: str | None) -> bool:
        """Constant-time comparison, so the token cannot be guessed byte by byte."""
        offered = query_token or header_token or ""
        return hmac.compare_digest(offered.encode(), self.token.encode())

    # -- the endpoints -----------------------------------------------------------------------

    def known_objects(self) -> dict[str, int]:
        """The database's objects, the planner's current one and those added on the page."""
        counts = dict(self.backend.objects())
        current = self.backend.state().get("object")
        for name in [*self.added, *([current] if current else [])]:
            counts.setdefault(name, 0)
        return counts

    def status(self) -> dict:
        overlay = self.backend.overlay()
        size = None if overlay is None else {"width": overlay[1], "height": overlay[2]}
        return {**self.backend.state(), "overlay": size,
                "objects": [{"name": n, "preferences": c} for n, c in sorted(self.known_objects().items())]}

    def require_object(self, request: dict) -> str:
        name = request.get("object")
        if not isinstance(name, str) or name not in self.known_objects():
            raise UnknownObject(f"unknown object {name!r}: add it first (known: {sorted(self.known_objects())})")
        return name

    def add_object(self, request: dict) -> dict:
        name = request.get("name")
        if not isinstance(name, str) or not OBJECT_NAME.fullmatch(name):
            raise BadRequest(f"an object name is 1-64 letters, digits, '_', '.', '-' or spaces, got {name!r}")
        if name not in self.known_objects():
            self.added.append(name)
        return {"added": name}

    def click(self, request: dict) -> dict:
        name = self.require_object(request)
        x, y = pixel_field(request, "x"), pixel_field(request, "y")
        overlay = self.backend.overlay()
        if overlay is None:
            raise ConsoleError("no overlay received yet: nothing to click on")
        _, width, height = overlay
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            raise BadRequest(f"pixel ({x:g}, {y:g}) is outside the {width}x{height} overlay")
        return self.backend.click(name, x, y)

    def _handler(self) -> type[JsonRequestHandler]:
        console = self
        posts: dict[str, Callable[[dict], dict]] = {
            "/objects": self.add_object, "/click": self.click,
            "/undo": lambda r: self.backend.undo(self.require_object(r)),
            "/clear": lambda r: self.backend.clear(self.require_object(r)),
            "/save": lambda r: self.backend.save(self.require_object(r)),
            "/pick": lambda _r: self.backend.pick()}

        class Handler(JsonRequestHandler):
            error_status = ERROR_STATUS

            def _authorised(self, url) -> bool:
                if console.authorised(parse_qs(url.query).get("token", [None])[0], self.headers.get(TOKEN_HEADER)):
                    return True
                self._json(HTTPStatus.FORBIDDEN, {"error": "missing or wrong token: open the URL the "
                                                           "operator_console node printed at start"})
                return False

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if not self._authorised(url):
                    return
                if url.path == "/":
                    self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
                elif url.path == "/state":
                    self._answer(lambda: self._json(HTTPStatus.OK, console.status()))
                elif url.path == "/overlay.png":
                    overlay = console.backend.overlay()
                    if overlay is None:
                        self._json(HTTPStatus.NOT_FOUND, {"error": "no overlay received yet"})
                    else:
                        self._send(HTTPStatus.OK, overlay[0], "image/png")
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {url.path}"})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                if not self._authorised(url):
                    return
                if url.path not in posts:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {url.path}"})
                    return

                def respond() -> None:
                    request = self._request()
                    with console._lock:
                        reply = posts[url.path](request)
                    self._json(HTTPStatus.OK, reply)
                self._answer(respond)

        return Handler


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ddr operator console</title>
<style>
body { font-family: sans-serif; margin: 8px; font-size: 14px; }
.main { display: flex; gap: 12px; align-items: flex-start; }
#view { background: #222; min-width: 320px; min-height: 240px; }
#stage { position: relative; width: max-content; }
#overlay { display: block; cursor: crosshair; image-rendering: pixelated; }
#marks { position: absolute; left: 0; top: 0; pointer-events: none; }
aside { min-width: 340px; }
h3 { margin: 10px 0 4px; }
table { border-collapse: collapse; }
td, th { padding: 2px 6px; border-bottom: 1px solid #ddd; text-align: left; }
tr.selected { background: #e6f0ff; }
.ok { color: #0a7a0a; } .bad { color: #b00020; }
#log { max-height: 220px; overflow: auto; font-family: monospace; font-size: 12px; white-space: pre-wrap;
       border: 1px solid #ccc; padding: 4px; }
button#pick { font-size: 16px; padding: 4px 18px; }
</style></head>
<body>
<div class="main">
<div><div id="view"><div id="stage"><img id="overlay" alt="waiting for the planner's overlay">
 <svg id="marks" xmlns="http://www.w3.org/2000/svg"></svg></div></div>
 <div>Click on the overlay to annotate <b id="selected"></b>. <span id="size"></span></div></div>
<aside>
 <h3>Gripper</h3><div id="gripper"></div>
 <h3>Last plan</h3><div id="plan">none yet</div>
 <h3>Last pick</h3><div id="result">none yet</div>
 <p><button id="pick">Pick</button></p>
 <h3>Objects</h3>
 <table><thead><tr><th></th><th>object</th><th>preferences</th><th></th></tr></thead><tbody id="objects"></tbody></table>
 <p><input id="new-object" placeholder="new object name" maxlength="64"> <button id="add">Add</button></p>
 <h3>What each action stored</h3><div id="log"></div>
</aside></div>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
let selected = null, lastStamp = null;
const $ = id => document.getElementById(id);
function log(text, bad) {
  const line = document.createElement("div");
  line.textContent = new Date().toLocaleTimeString() + "  " + text;
  if (bad) line.className = "bad";
  $("log").prepend(line);
}
async function call(path, body) {
  const reply = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json",
                                   "X-Console-Token": token}, body: JSON.stringify(body || {})});
  const content = await reply.json();
  if (!reply.ok) { log(path.slice(1) + " refused: " + content.error, true); return null; }
  const what = records => records.map(r => "#" + r.id + " " + r.object + " " + r.role + " (" + r.x + ", " + r.y + ")")
                                 .join(", ");
  log(path.slice(1) + ": " + content.message + (content.added.length ? "; stored " + what(content.added) : "") +
      (content.removed.length ? "; removed " + what(content.removed) : ""), false);
  await refresh();
  return content;
}
function mark(plan) {
  // the chosen grasp on the overlay: the cup's pixel, or the parallel grasp's two keypoints
  const image = $("overlay"), svg = $("marks");
  svg.setAttribute("width", image.clientWidth); svg.setAttribute("height", image.clientHeight);
  svg.setAttribute("viewBox", "0 0 " + image.naturalWidth + " " + image.naturalHeight);
  const colour = plan && plan.ok ? "#00ff40" : "#ff3030", r = image.naturalWidth / 60;
  const points = (plan && plan.pixels) || [];
  let shapes = points.map(([x, y]) => '<circle cx="' + x + '" cy="' + y + '" r="' + r + '" fill="none" stroke="' +
                                      colour + '" stroke-width="' + r / 3 + '"/>');
  if (points.length === 2)
    shapes.push('<line x1="' + points[0][0] + '" y1="' + points[0][1] + '" x2="' + points[1][0] + '" y2="' +
                points[1][1] + '" stroke="' + colour + '" stroke-width="' + r / 3 + '"/>');
  svg.innerHTML = shapes.join("");
}
function fmt(value) { return value === null || value === undefined ? "-" : (+value).toFixed(2); }
function render(state) {
  const gates = Object.entries(state.gates || {}).map(([k, v]) => k + " " + fmt(v)).join(", ");
  $("gripper").textContent = state.gripper + " (planner " + state.planner + "); gates: " + (gates || "unknown");
  const plan = state.plan;
  $("plan").innerHTML = "";
  if (plan) {
    $("plan").textContent = plan.object + ": " + (plan.ok ? "grasp" : "no grasp (" + plan.detail + ")") +
                            ", confidence " + fmt(plan.confidence);
    $("plan").className = plan.ok ? "ok" : "bad";
  }
  mark(plan);
  const result = state.result;
  if (result) {
    $("result").textContent = result.code + (result.detail ? ": " + result.detail : "");
    $("result").className = result.code === "succeeded" ? "ok" : "bad";
  }
  if (selected === null || !state.objects.some(o => o.name === selected)) selected = state.object;
  $("selected").textContent = selected;
  const rows = $("objects"); rows.innerHTML = "";
  for (const o of state.objects) {
    const row = document.createElement("tr");
    if (o.name === selected) row.className = "selected";
    row.innerHTML = '<td><input type="radio" name="object"></td><td></td><td></td>' +
                    '<td><button>undo</button> <button>clear</button> <button>save</button></td>';
    row.dataset.object = o.name;
    row.children[1].textContent = o.name; row.children[2].textContent = o.preferences;
    const radio = row.querySelector("input"); radio.checked = o.name === selected;
    radio.onchange = () => { selected = o.name; render(state); };
    const [undo, clear, save] = row.querySelectorAll("button");
    undo.onclick = () => call("/undo", {object: o.name});
    clear.onclick = () => { if (confirm("Remove every preference of " + o.name + "?")) call("/clear", {object: o.name}); };
    save.onclick = () => call("/save", {object: o.name});
    rows.appendChild(row);
  }
  if (state.overlay) {
    $("size").textContent = "(" + state.overlay.width + "x" + state.overlay.height + ", frame " + state.overlay_stamp + ")";
    if (state.overlay_stamp !== lastStamp) {
      lastStamp = state.overlay_stamp;
      $("overlay").src = "/overlay.png?token=" + encodeURIComponent(token) + "&stamp=" + lastStamp;
    }
  }
}
async function refresh() {
  const reply = await fetch("/state", {headers: {"X-Console-Token": token}});
  if (reply.ok) render(await reply.json());
}
$("overlay").addEventListener("click", event => {
  const image = $("overlay"), box = image.getBoundingClientRect();
  const x = (event.clientX - box.left) * image.naturalWidth / box.width;
  const y = (event.clientY - box.top) * image.naturalHeight / box.height;
  call("/click", {object: selected, x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10});
});
$("overlay").addEventListener("load", () => {
  const image = $("overlay"), scale = Math.max(1, Math.floor(640 / image.naturalWidth));
  image.style.width = image.naturalWidth * scale + "px";
});
$("pick").onclick = () => call("/pick");
$("add").onclick = async () => {
  const name = $("new-object").value.trim();
  const reply = await fetch("/objects", {method: "POST", headers: {"Content-Type": "application/json",
                                         "X-Console-Token": token}, body: JSON.stringify({name})});
  const content = await reply.json();
  if (!reply.ok) { log("add refused: " + content.error, true); return; }
  selected = content.added; $("new-object").value = ""; await refresh();
};
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""
