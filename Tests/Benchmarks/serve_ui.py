#!/usr/bin/env python3
"""Drives `magfleet serve`'s browser page in headless Chromium over the DevTools protocol
(standard library only: a minimal WebSocket client), the way a person would: open a search,
click the first neighbour, click its label, open the failures. Prints what the page showed as
JSON and saves screenshots. ServeUITests runs it; it also makes docs/serve-ui.png.

    python3 serve_ui.py http://127.0.0.1:PORT OUTDIR [ROW]
"""
import base64, json, os, shutil, socket, struct, subprocess, sys, tempfile, time, urllib.request

DEADLINE = 60.0


class WebSocket:
    def __init__(self, url):
        assert url.startswith("ws://")
        host, _, path = url[5:].partition("/")
        name, _, port = host.partition(":")
        self.sock = socket.create_connection((name, int(port)), timeout=DEADLINE)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("websocket handshake refused: %r" % head)

    def send(self, text):
        data = text.encode()
        header = bytes([0x81])
        n = len(data)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise RuntimeError("websocket closed")
            out += chunk
        return out

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise RuntimeError("websocket closed by the browser")
            if opcode in (0x1, 0x2, 0x0):
                message += payload
                if b0 & 0x80:
                    return message.decode()


class Page:
    def __init__(self, ws):
        self.ws, self.next = ws, 0

    def call(self, method, **params):
        self.next += 1
        self.ws.send(json.dumps({"id": self.next, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, what):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if self.eval(expression):
                return
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}; page: " + str(self.eval("document.body.innerText"))[:2000])

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


FACES = """JSON.stringify(Array.from(document.querySelectorAll('%s .face')).map(f => ({
  row: parseInt(f.dataset.row, 10), text: f.innerText, img: f.querySelector('img') ? f.querySelector('img').naturalWidth : 0 })))"""


def main():
    base, out = sys.argv[1], sys.argv[2]
    row = sys.argv[3] if len(sys.argv) > 3 else "1"
    os.makedirs(out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="magfleet-cdp-")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    chrome = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
                               f"--user-data-dir={profile}", "--window-size=1100,760", "--hide-scrollbars", "about:blank"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        active = os.path.join(profile, "DevToolsActivePort")
        end = time.monotonic() + DEADLINE
        while not (os.path.exists(active) and open(active).read().count("\n") >= 1):
            if time.monotonic() > end or chrome.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = open(active).read().split("\n")[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=DEADLINE))
        page = Page(WebSocket(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]))
        page.call("Page.enable")
        page.call("Runtime.enable")
        seen = {}
        page.call("Page.navigate", url=f"{base}/#row={row}")
        page.wait_for("document.querySelectorAll('#results .face').length > 0", "the search results")
        page.wait_for("Array.from(document.images).every(i => i.complete)", "the thumbnails")
        seen["summary"] = page.eval("document.getElementById('summary').innerText")
        seen["query"] = json.loads(page.eval(FACES % "#query"))
        seen["results"] = json.loads(page.eval(FACES % "#results"))
        page.screenshot(os.path.join(out, "search.png"))
        first = seen["results"][0]["row"]
        page.eval("document.querySelector('#results .face').click()")
        page.wait_for(f"(document.querySelector('#query .face') || {{dataset: {{}}}}).dataset.row === '{first}'", "the clicked neighbour's search")
        page.wait_for("document.querySelectorAll('#results .face').length > 0", "the neighbour's results")
        seen["clicked"] = {"row": first, "hash": page.eval("location.hash"), "results": json.loads(page.eval(FACES % "#results"))}
        page.eval("document.querySelector('#query a.label').click()")
        page.wait_for("document.getElementById('identity') !== null", "the identity page")
        seen["identity"] = {"title": page.eval("document.getElementById('identity').innerText"),
                            "faces": len(json.loads(page.eval(FACES % "#view")))}
        page.eval("document.getElementById('failures-link').click()")
        page.wait_for("document.getElementById('failures') !== null", "the failures page")
        seen["failures"] = page.eval("document.getElementById('view').innerText")
        page.screenshot(os.path.join(out, "failures.png"))
        print(json.dumps(seen))
    finally:
        chrome.kill()
        chrome.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
