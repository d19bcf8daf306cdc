"""Double opt-in: the message that asks a new subscriber to confirm.

A ``pending`` subscription becomes ``active`` only when its owner follows the signed
link (``<service_url>confirm?token=…``, a token of purpose "confirm" that no unsubscribe
link can stand in for). The message is plain text, in the newsletter's language.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from .config import Config, ConfigError, secret
from .messages import SMTP, RecipientError, envelope_address, make_token
from .senders import PermanentFailure, ServerUnavailable, TemporaryFailure, UnknownOutcome, senders_for
from .subscribers import SubscriberStore

__all__ = ["confirmation_message", "send_confirmations"]

_TEXT = {
    "en": ("Confirm your subscription to {newsletter}",
           "Someone, hopefully you, asked to receive {newsletter} from {site} at this address.\n\n"
           "To confirm, open this link:\n\n  {link}\n\n"
           "If you did not ask for it, ignore this message: nothing will be sent to you.\n"),
    "fi": ("Vahvista uutiskirjeen {newsletter} tilaus",
           "Joku, toivottavasti sinä, pyysi uutiskirjettä {newsletter} sivustolta {site} "
           "tähän osoitteeseen.\n\n"
           "Vahvista tilaus avaamalla tämä linkki:\n\n  {link}\n\n"
           "Jos et pyytänyt sitä, voit jättää tämän viestin huomiotta: sinulle ei lähetetä mitään.\n"),
}


def confirmation_message(config: Config, email: str, token_key: str, newsletter_id: str,
                         now: datetime) -> EmailMessage:
    key = secret("NEWSROOM_SECRET")
    if not key:
        raise ConfigError("NEWSROOM_SECRET is not set: it signs confirmation links")
    newsletter = config.newsletter(newsletter_id)
    subject, body = _TEXT.get(newsletter.lang, _TEXT["en"])
    link = f"{config.service_url}confirm?token={make_token(key, token_key, newsletter_id, 'confirm')}"
    site = config.site.text(config.site.title, newsletter.lang)
    name, address = parseaddr(config.delivery.sender)
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=name.replace("=?", "= ?"), addr_spec=address)
    message["To"] = envelope_address(email)
    message["Subject"] = subject.format(newsletter=newsletter.title.replace("=?", "= ?"))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=address.rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body.format(newsletter=newsletter.title, site=site, link=link))
    return message


def send_confirmations(config: Config, store: SubscriberStore, pending: list[tuple[str, str]],
                       now: datetime) -> int:
    """Ask each (email, newsletter) to confirm; how many messages went out."""
    sender = senders_for(config)[0]
    sent = 0
    try:
        for email, newsletter in pending:
            subscriber = store.get(email)
            if subscriber is None:
                continue
            try:
                message = confirmation_message(config, email, subscriber.key, newsletter, now)
                sender.send(parseaddr(config.delivery.sender)[1], envelope_address(email), message.as_bytes(),
                            message["Message-ID"])
                sent += 1
            except (RecipientError, TemporaryFailure, PermanentFailure, UnknownOutcome, ServerUnavailable):
                continue
    finally:
        sender.close()
    return sent
