"""An FCM v1 emulator on loopback HTTPS (a throwaway local CA), for firebase-admin's real traffic.

It records every message and can be told to answer a token with UNREGISTERED, QUOTA_EXCEEDED
(429 with Retry-After), UNAVAILABLE (503), INTERNAL (500) or INVALID_ARGUMENT, or to be slow.
Speaks HTTP/1.1 (what `send_each` uses); `send_each_async`'s HTTP/2 is not emulated.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from nudge_local.auth import write_secret

PROJECT_ID = "nudge-local"
_ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL", "INTERNAL"),
}
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nudge local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "fcm-ca.pem", directory / "fcm-cert.pem", directory / "fcm-key.pem")
    write_secret(paths[0], ca.public_bytes(serialization.Encoding.PEM))
    write_secret(paths[1], cert.public_bytes(serialization.Encoding.PEM))
    write_secret(paths[2], _pem_key(key))
    return paths


def service_account(token_uri: str) -> str:
    """A throwaway service account. A non-Google universe makes google-auth sign its own
    access tokens, so nothing ever asks an OAuth server (or the internet) for one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return json.dumps(
        {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": "local",
            "private_key": _pem_key(key).decode(),
            "client_email": f"nudge@{PROJECT_ID}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
            "universe_domain": "emulator.local",
        }
    )


class FcmEmulator:
    def __init__(self, host: str, port: int, state_dir: Path) -> None:
        self.messages: list[dict[str, Any]] = []
        self.faults: dict[str, list[str]] = {}  # token -> codes to answer, in order
        self.latency_s = 0.0
        self._lock = threading.Lock()
        ca, cert, key = make_certificates(state_dir)
        self.ca_path = ca
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://{host}:{self.server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, name="fcm", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    def inject(self, token: str, codes: list[str], latency_ms: int | None = None) -> None:
        unknown = [c for c in codes if c.split(":")[0] not in _ERRORS]
        if unknown:
            raise ValueError(f"unknown FCM error {unknown[0]!r}; use one of {sorted(_ERRORS)}")
        with self._lock:
            self.faults[token] = list(codes)
            if latency_ms is not None:
                self.latency_s = latency_ms / 1000

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"messages": list(self.messages), "faults": dict(self.faults)}

    def _answer(self, message: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            queued = self.faults.get(message.get("token", ""), [])
            if queued:
                code, _, retry_after = queued.pop(0).partition(":")
                status, grpc, fcm_code = _ERRORS[code]
                headers = {"Retry-After": retry_after} if retry_after else {}
                body = {
                    "error": {
                        "code": status,
                        "message": code.lower(),
                        "status": grpc,
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                "errorCode": fcm_code,
                            }
                        ],
                    }
                }
                return status, body, headers
            self.messages.append(message)
            return 200, {"name": f"projects/{PROJECT_ID}/messages/{len(self.messages)}"}, {}


def _handler(emulator: FcmEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/token":
                self._reply(200, {"access_token": "local", "expires_in": 3600}, {})
                return
            match = _SEND_PATH.match(self.path)
            if not match:
                self._reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}}, {})
                return
            if not (self.headers.get("authorization") or "").startswith("Bearer "):
                self._reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, {})
                return
            try:
                message = json.loads(raw)["message"]
            except (ValueError, KeyError, TypeError):
                self._reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, {})
                return
            self._reply(*emulator._answer(message))

    return Handler
