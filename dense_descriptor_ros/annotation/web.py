"""A small local web page for clicking grasp preferences (``ddr annotate`` without --click).

Served by the standard library on 127.0.0.1 only, on a free port. The page shows the image at
its own pixel size; a click POSTs the pixel as JSON to ``/click`` (stored at once), then the
page reloads ``/heatmap.png``, the overlay the stored preferences produce. ``Done`` POSTs
``/done`` and the server stops.
"""
from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .session import AnnotationSession

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ddr annotate: {object}</title>
<style>body{{font-family:sans-serif}} img{{display:block;border:0;margin:0;padding:0}}
#image{{cursor:crosshair}} .row{{display:flex;gap:16px}}</style></head>
<body><h3>Click where <code>{object}</code> should be grasped</h3>
<div class="row"><img id="image" src="/image.png" width="{width}" height="{height}">
<img id="heatmap" src="/heatmap.png" width="{width}" height="{height}"></div>
<p>Stored preferences: <span id="count">0</span> <span id="last"></span></p>
<button id="done">Done</button> <span id="status"></span>
<script>
const image = document.getElementById("image");
image.addEventListener("click", async (event) => {{
  const x = Math.floor(event.offsetX * image.naturalWidth / image.clientWidth);
  const y = Math.floor(event.offsetY * image.naturalHeight / image.clientHeight);
  const reply = await fetch("/click", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                        body: JSON.stringify({{x: x, y: y}})}});
  const result = await reply.json();
  if (!reply.ok) {{ document.getElementById("status").textContent = result.error; return; }}
  document.getElementById("count").textContent = result.count;
  document.getElementById("last").textContent = "(last: " + x + ", " + y + ")";
  document.getElementById("heatmap").src = "/heatmap.png?n=" + result.count;
}});
document.getElementById("done").addEventListener("click", async () => {{
  await fetch("/done", {{method: "POST"}});
  document.getElementById("status").textContent = "saved; you can close this page";
}});
</script></body></html>
"""


class AnnotationServer:
    """Serves ``session`` on ``http://127.0.0.1:<free port>/`` until ``Done`` is pressed."""

    def __init__(self, session: AnnotationSession, port: int = 0) -> None:
        self.session = session
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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self
        session = self.session
        width, height = session.size
        page = PAGE.format(object=session.object_name, width=width, height=height).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # quiet: the CLI prints what matters
                pass

            def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: HTTPStatus, content: dict) -> None:
                self._send(status, json.dumps(content).encode(), "application/json")

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/":
                    self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
                elif path == "/image.png":
                    self._send(HTTPStatus.OK, session.image_png(), "image/png")
                elif path == "/heatmap.png":
                    self._send(HTTPStatus.OK, session.overlay_png(), "image/png")
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {path}"})

            def do_POST(self) -> None:
                if self.path == "/done":
                    self._json(HTTPStatus.OK, {"count": len(session.clicks)})
                    server.stop()
                    return
                if self.path != "/click":
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {self.path}"})
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length) or b"{}")
                    pixel = [float(body["x"]), float(body["y"])]
                    ids = session.add([pixel])
                except (ValueError, KeyError, TypeError) as exc:
                    self._json(HTTPStatus.BAD_REQUEST, {"error": f"bad click: {exc}; expected JSON "
                                                                 '{"x": <pixel>, "y": <pixel>} inside the image'})
                    return
                self._json(HTTPStatus.OK, {"id": ids[0], "count": len(session.clicks)})

        return Handler
