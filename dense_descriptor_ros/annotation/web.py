"""A small local web page for clicking grasp preferences (``ddr annotate`` without --click).

Served by the standard library on 127.0.0.1 only, on a free port. The page shows the image
scaled to the window, with zoom for small parts, and beside it the heatmap the selected
object's stored preferences produce. A click POSTs the image pixel under the pointer (whatever
the zoom) as JSON to ``/click`` and is stored at once; the reply carries the width of the face
there where the image has depth. The object switcher lists the database's objects and new
ones the operator types (``/objects``); ``/undo`` takes back this session's latest click of the
selected object. ``Done`` POSTs ``/done`` and the server stops.

Bad requests (malformed JSON, a pixel outside the image, an unknown object, nothing to undo)
get a 4xx reply with ``{"error": ...}`` and change nothing.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..grasping.gripper import PARALLEL_JAW
from ..grasping.keypoint_db import KeypointDatabaseError, UnknownObjectError
from .json_http import JsonRequestHandler, RequestTooLarge, pixel_field
from .session import AnnotationSession, NothingToUndoError

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ddr annotate</title>
<style>
body { font-family: sans-serif; margin: 8px; }
header { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
header label { font-weight: bold; }
#status { margin: 6px 0; min-height: 1.3em; }
#error { color: #b00020; }
.panes { display: flex; gap: 8px; }
.pane { flex: 1 1 0; overflow: auto; position: relative; background: #222; }
#heatmap-pane { overflow: hidden; }
.pane h4 { margin: 0; padding: 2px 6px; color: #eee; background: #333; font-weight: normal;
           position: sticky; top: 0; left: 0; z-index: 2; }
.pane img { display: block; border: 0; margin: 0; padding: 0; }
.pixelated img { image-rendering: pixelated; }
#image { cursor: crosshair; }
.stage { position: relative; width: max-content; }
.marker { position: absolute; width: 13px; height: 13px; margin: -8px 0 0 -8px; border: 2px solid #0f0;
          border-radius: 50%; pointer-events: none; display: none; }
</style></head>
<body>
<header>
 <span><label for="object">Object</label> <select id="object"></select></span>
 <span><input id="new-object" placeholder="new object name" maxlength="64"> <button id="add">Add</button></span>
 <button id="undo" title="Ctrl+Z">Undo</button>
 <span>Zoom <button id="zoom-out" title="-">&minus;</button> <span id="zoom">fit</span>
  <button id="zoom-in" title="+">+</button> <button id="fit" title="0">Fit</button></span>
 <button id="done">Done</button>
</header>
<div id="status"><span id="count"></span> <span id="last"></span> <span id="face"></span>
 <span id="error"></span></div>
<div class="panes" id="panes">
 <div class="pane" id="image-pane"><h4>image: click where the object should be grasped</h4>
  <div class="stage"><img id="image" src="/image.png" alt="image">
   <div class="marker" id="marker-image"></div></div></div>
 <div class="pane" id="heatmap-pane"><h4 id="heatmap-title">heatmap</h4>
  <div class="stage"><img id="heatmap" alt="heatmap">
   <div class="marker" id="marker-heatmap"></div></div></div>
</div>
<script>
const WIDTH = __WIDTH__, HEIGHT = __HEIGHT__, HAS_DEPTH = __HAS_DEPTH__;
let selected = __INITIAL__, zoom = 1, last = null;
const $ = (id) => document.getElementById(id);
const image = $("image"), heatmap = $("heatmap"), panes = [$("image-pane"), $("heatmap-pane")];

async function call(path, body) {
  const reply = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                   body: JSON.stringify(body)});
  const result = await reply.json();
  $("error").textContent = reply.ok ? "" : result.error;
  return reply.ok ? result : null;
}

function fitScale() {
  const pane = panes[0], top = pane.getBoundingClientRect().top;
  const room = Math.max(window.innerHeight - top - 12, 100);
  panes.forEach((p) => p.style.height = room + "px");
  return Math.min(pane.clientWidth / WIDTH, (room - 24) / HEIGHT);
}

function layout() {
  const scale = fitScale() * zoom;
  for (const img of [image, heatmap]) {
    img.style.width = WIDTH * scale + "px";
    img.style.height = HEIGHT * scale + "px";
  }
  $("panes").classList.toggle("pixelated", scale >= 2);
  $("zoom").textContent = zoom === 1 ? "fit" : "fit x" + zoom;
  placeMarkers();
}

function placeMarkers() {
  const scale = image.getBoundingClientRect().width / WIDTH;
  for (const id of ["marker-image", "marker-heatmap"]) {
    const marker = $(id);
    marker.style.display = last ? "block" : "none";
    if (last) {
      marker.style.left = (last.x + 0.5) * scale + "px";
      marker.style.top = (last.y + 0.5) * scale + "px";
    }
  }
}

function setZoom(value) {  // keeps the middle of the view in the middle
  const pane = panes[0], old = image.getBoundingClientRect().width;
  const cx = (pane.scrollLeft + pane.clientWidth / 2) / old, cy = (pane.scrollTop + pane.clientHeight / 2) / old;
  zoom = Math.min(Math.max(value, 1), 16);
  layout();
  const now = image.getBoundingClientRect().width;
  pane.scrollLeft = cx * now - pane.clientWidth / 2;
  pane.scrollTop = cy * now - pane.clientHeight / 2;
}

panes[0].addEventListener("scroll", () => {  // the heatmap follows (one way: two would race)
  panes[1].scrollLeft = panes[0].scrollLeft;
  panes[1].scrollTop = panes[0].scrollTop;
});

async function refresh() {
  const reply = await fetch("/objects");
  const objects = (await reply.json()).objects;
  if (selected === null && objects.length) selected = objects[0].name;
  const select = $("object");
  select.replaceChildren(...objects.map((o) => new Option(o.name, o.name, false, o.name === selected)));
  const current = objects.find((o) => o.name === selected);
  $("count").textContent = current ? `${current.name}: ${current.stored} stored, ${current.session} this session`
                                   : "add or pick an object, then click on the image";
  $("heatmap-title").textContent = current ? `heatmap of ${current.name}'s stored preferences` : "heatmap";
  heatmap.src = current ? "/heatmap.png?object=" + encodeURIComponent(selected) + "&t=" + Date.now()
                        : "/image.png";
  layout();  // the header may have wrapped to another height
}

heatmap.addEventListener("error", async () => {  // the reply says why, e.g. another model's database
  const reply = await fetch(heatmap.src);
  if (!reply.ok) $("error").textContent = "no heatmap: " + (await reply.json()).error;
});

function describeFace(result) {
  if (!HAS_DEPTH) return "no depth with this image: face width not measured";
  if (result.face_width_mm === null) return "no flat face with valid depth under that pixel";
  const wide = result.face_width_mm > result.jaw_opening_mm
    ? ` (wider than the jaws open, ${result.jaw_opening_mm} mm)` : "";
  return `face ${result.face_width_mm.toFixed(1)} mm across${wide}`;
}

image.addEventListener("click", async (event) => {
  if (!selected) { $("error").textContent = "add or pick an object first"; return; }
  const rect = image.getBoundingClientRect();
  const x = Math.min(WIDTH - 1, Math.max(0, Math.floor((event.clientX - rect.left) * WIDTH / rect.width)));
  const y = Math.min(HEIGHT - 1, Math.max(0, Math.floor((event.clientY - rect.top) * HEIGHT / rect.height)));
  const result = await call("/click", {object: selected, x: x, y: y});
  if (!result) return;
  last = {x: x, y: y};
  $("last").textContent = `· last click (${x}, ${y}):`;
  $("face").textContent = describeFace(result);
  placeMarkers();
  await refresh();
});

async function undo() {
  const result = await call("/undo", {object: selected});
  if (!result) return;
  last = null; placeMarkers();
  $("last").textContent = `· undid (${result.x}, ${result.y})`; $("face").textContent = "";
  await refresh();
}

async function addObject() {
  const result = await call("/objects", {name: $("new-object").value});
  if (!result) return;
  selected = result.name; $("new-object").value = ""; last = null; placeMarkers();
  await refresh();
}

$("object").addEventListener("change", async () => {
  selected = $("object").value; last = null; placeMarkers(); $("error").textContent = "";
  await refresh();
});
$("add").addEventListener("click", addObject);
$("new-object").addEventListener("keydown", (event) => { if (event.key === "Enter") addObject(); });
$("undo").addEventListener("click", undo);
$("zoom-in").addEventListener("click", () => setZoom(zoom * 2));
$("zoom-out").addEventListener("click", () => setZoom(zoom / 2));
$("fit").addEventListener("click", () => setZoom(1));
document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT") return;
  if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
  else if (event.key === "+" || event.key === "=") setZoom(zoom * 2);
  else if (event.key === "-") setZoom(zoom / 2);
  else if (event.key === "0") setZoom(1);
});
$("done").addEventListener("click", async () => {
  await fetch("/done", {method: "POST"});
  $("status").textContent = "saved; you can close this page";
});
window.addEventListener("resize", layout);
image.addEventListener("load", layout);
layout();
refresh();
</script></body></html>
"""


# What each refusal answers, most specific first.
ERROR_STATUS: tuple[tuple[type[Exception], HTTPStatus], ...] = (
    (RequestTooLarge, HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    (UnknownObjectError, HTTPStatus.NOT_FOUND),
    (NothingToUndoError, HTTPStatus.CONFLICT),
    (KeypointDatabaseError, HTTPStatus.CONFLICT),  # e.g. the database holds another model's descriptors
    (ValueError, HTTPStatus.BAD_REQUEST),  # BadRequest, a pixel outside the image, a bad object name
)


class AnnotationServer:
    """Serves ``session`` on ``http://127.0.0.1:<free port>/`` until ``Done`` is pressed;
    ``initial_object`` is selected when the page opens (made available if new)."""

    def __init__(self, session: AnnotationSession, port: int = 0, initial_object: str | None = None) -> None:
        self.session = session
        self.initial_object = session.add_object(initial_object) if initial_object else None
        self.done = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def serve(self) -> None:
        """Block until ``/done`` (or :meth:`stop`), then close the socket."""
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        """Stop serving (from another thread)."""
        self.done.set()
        threading.Thread(target=self._httpd.shutdown, daemon=True).start()

    # -- the endpoints: a JSON object in (POST) or the query (GET), a JSON object out ----------

    def page(self) -> bytes:
        width, height = self.session.size
        return (PAGE.replace("__WIDTH__", str(width)).replace("__HEIGHT__", str(height))
                .replace("__HAS_DEPTH__", json.dumps(self.session.has_depth))
                .replace("__INITIAL__", json.dumps(self.initial_object).replace("</", "<\\/"))).encode()

    def objects(self) -> dict:
        return {"objects": [{"name": name, "stored": stored, "session": self.session.session_count(name)}
                            for name, stored in self.session.objects().items()]}

    def add_object(self, request: dict) -> dict:
        return {"name": self.session.add_object(request.get("name"))} | self.objects()

    def click(self, request: dict) -> dict:
        name = self.session.require_object(request.get("object"))
        pixel = [pixel_field(request, "x"), pixel_field(request, "y")]
        row = self.session.add(name, [pixel])[0]
        width = self.session.face_width(pixel) if self.session.has_depth else None
        return {"id": row, "object": name, "x": pixel[0], "y": pixel[1],
                "face_width_mm": None if width is None else round(width * 1000, 1),
                "jaw_opening_mm": round(PARALLEL_JAW.max_opening * 1000, 1)}

    def undo(self, request: dict) -> dict:
        name = self.session.require_object(request.get("object"))
        removed = self.session.undo(name)
        return {"removed": removed.id, "object": name, "x": removed.xy[0], "y": removed.xy[1]}

    def _handler(self) -> type[JsonRequestHandler]:
        server = self
        posts: dict[str, Callable[[dict], dict]] = {"/objects": self.add_object, "/click": self.click,
                                                    "/undo": self.undo}

        class Handler(JsonRequestHandler):
            error_status = ERROR_STATUS

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path == "/":
                    self._send(HTTPStatus.OK, server.page(), "text/html; charset=utf-8")
                elif url.path == "/image.png":
                    self._send(HTTPStatus.OK, server.session.image_png(), "image/png")
                elif url.path == "/heatmap.png":
                    self._answer(lambda: self._send(HTTPStatus.OK, server.session.overlay_png(
                        server.session.require_object(query.get("object", [None])[0])), "image/png"))
                elif url.path == "/objects":
                    self._answer(lambda: self._json(HTTPStatus.OK, server.objects()))
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {url.path}"})

            def do_POST(self) -> None:
                if self.path == "/done":  # stops first: a page closed at once must not keep it serving
                    server.stop()
                    self._json(HTTPStatus.OK, {"stored": sum(map(server.session.session_count,
                                                                 server.session.objects()))})
                elif self.path in posts:
                    self._answer(lambda: self._json(HTTPStatus.OK, posts[self.path](self._request())))
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {self.path}"})

        return Handler
