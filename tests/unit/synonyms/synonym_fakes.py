"""A fake chat-completions server on 127.0.0.1 (stdlib, daemon thread), a secret key, model answers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agpt.anatomy import SILVER_BOX_NAMES
from agpt.synonyms import load_synonym_table

SECRET_KEY = "sk-test-SECRET-0123456789abcdefXYZ"


def completion(content: str, model: str = "gpt-4o") -> dict:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def good_answer(anatomies=SILVER_BOX_NAMES) -> dict:
    """A plausible model answer: the curated synonyms plus a few deliberate errors."""
    table = load_synonym_table(None)
    answer = {a: table.synonyms(a) for a in anatomies}
    answer["right lung"] = ["right lung", "right hemithorax", "right breast", "left lung field", "right hemithorax", ""]
    answer["abdomen"] = ["abdomen", "stomach", "upper abdomen"]
    answer["right apical zone"] = ["right apex", "right apical zone", "rigt apex", "right lung apex"]
    answer["right lower lung zone"] = answer["right lower lung zone"] + ["right costophrenic angle", "right lower lobe"]
    return {"synonyms": answer}


class FakeChatServer:
    """Answers POST /v1/chat/completions from a script of (status, body, headers); records requests."""

    def __init__(self):
        self.script: list[tuple[int, object, dict]] = []
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append({"path": self.path, "authorization": self.headers.get("Authorization"), "body": body})
                if self.path != "/v1/chat/completions":
                    status, payload, headers = 404, {"error": {"message": "not found"}}, {}
                elif outer.script:
                    status, payload, headers = outer.script.pop(0)
                else:
                    status, payload, headers = 500, {"error": {"message": "script exhausted"}}, {}
                if payload == "ECHO_AUTH":  # an error body that repeats the credentials
                    payload = {"error": {"message": f"Incorrect API key provided: {self.headers.get('Authorization')}"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def ok(self, answer: object) -> None:
        content = answer if isinstance(answer, str) else json.dumps(answer)
        self.script.append((200, completion(content), {}))
