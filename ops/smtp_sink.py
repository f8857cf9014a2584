"""A local SMTP server for development: every mail it receives becomes one .eml file.

    python -m ops.smtp_sink --port 8825 --dir .state/mail

`make run` starts it (supervisord `[program:smtp]`) on EMAIL_PORT, so the app's emails land in .state/mail/
instead of anyone's inbox. Loopback only; it accepts any sender and recipient.
"""

import argparse
import os
import signal
import threading
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller


class MailDirHandler:
    """Writes each message to `directory` (temporary name, then renamed: a reader never sees
    half a file), with the envelope's recipients in an X-Envelope-To header."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def store(self, envelope) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        header = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(header.encode() + envelope.original_content)
        os.replace(tmp, path)
        return path

    async def handle_DATA(self, server, session, envelope) -> str:
        self.store(envelope)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMAIL_PORT", "8825")))
    parser.add_argument("--dir", type=Path, default=Path(".state/mail"))
    args = parser.parse_args()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    email_host = os.environ.get("EMAIL_HOST", "127.0.0.1")
    if email_host not in ("127.0.0.1", "localhost", "::1"):
        # A real server is configured: nothing to catch. Stay up, idle (supervisord would
        # otherwise start it again and again).
        print(f"EMAIL_HOST is {email_host}: no local SMTP sink", flush=True)
        stop.wait()
        return
    controller = Controller(MailDirHandler(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"SMTP sink on {args.host}:{args.port}, mails in {args.dir.resolve()}", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
