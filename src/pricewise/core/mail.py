"""Outgoing e-mail over SMTP (stdlib smtplib, run in a thread)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from pricewise.settings import Settings

log = logging.getLogger("pricewise.mail")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: str = "application/pdf"


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    def _send(self, msg: EmailMessage) -> None:
        s = self.settings
        assert s.smtp_host
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_pass:
                smtp.login(s.smtp_user, s.smtp_pass.get_secret_value())
            smtp.send_message(msg)

    async def send(self, to: list[str], subject: str, body: str,
                   attachments: tuple[Attachment, ...] = ()) -> bool:
        """Send one message; False (logged, without the body) when SMTP is not set up or fails."""
        if not self.configured:
            log.warning("e-mail not sent (no SMTP_HOST): %s", subject)
            return False
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg.set_content(body)
        for a in attachments:
            main, _, sub = a.mime.partition("/")
            msg.add_attachment(a.content, maintype=main, subtype=sub, filename=a.filename)
        try:
            await asyncio.to_thread(self._send, msg)
            return True
        except (OSError, smtplib.SMTPException) as exc:
            log.error("e-mail to %d recipient(s) failed: %s", len(to), type(exc).__name__)
            return False
