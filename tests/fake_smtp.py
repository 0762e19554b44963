"""A recording SMTP server on 127.0.0.1: just enough of the protocol for smtplib."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field
from typing import Self


@dataclass
class ReceivedMail:
    """One message as the server took it."""

    sender: str
    recipients: list[str]
    data: str


@dataclass
class _Session:
    sender: str = ""
    recipients: list[str] = field(default_factory=list)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 fake-smtp ready")
        session = _Session()
        while raw := self.rfile.readline():
            command = raw.decode().rstrip("\r\n")
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 fake-smtp")
            elif verb == "MAIL":
                session = _Session(sender=command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "RCPT":
                session.recipients.append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline().decode()) not in (".\r\n", ""):
                    lines.append(line)
                mail = ReceivedMail(session.sender, session.recipients, "".join(lines))
                self.server.received.append(mail)
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # RSET, NOOP, anything else
                self.reply("250 OK")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    received: list[ReceivedMail]


class FakeSMTP:
    """`with FakeSMTP() as smtp:` then send to `smtp.port` and read `smtp.received`."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.received = []

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    @property
    def received(self) -> list[ReceivedMail]:
        """The messages taken so far."""
        return self._server.received

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
