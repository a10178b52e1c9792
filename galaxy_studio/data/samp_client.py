"""Galaxy Studio as a SAMP client: register with the hub on this computer, send images and
tables to DS9, Aladin and TOPCAT, and hear back what they select or point at.

Built on astropy.samp (deprecated in astropy 8 in favour of pyvo.samp, which is the same
code; no new dependency for now), with three changes that a desktop program needs:

- every call to the hub has a socket timeout (astropy's proxies have none), so a hub that
  hangs costs `timeout` seconds of a background thread, never a frozen window;
- only a hub listening on this computer is used, and the client listens on 127.0.0.1 only;
  astropy would otherwise look up google.com to decide whether to listen on the host name;
- a hub that stops or restarts is noticed (its shutdown message, or a failed ping in
  `check`), reported as HubLost, and `check` registers again with the new hub.

Received messages arrive on astropy's server thread and are passed to `on_event` there; a
GUI forwards them to its own thread. A malformed message is answered with an error, logged
and otherwise ignored.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

from galaxy_studio.data.samp_messages import (
    HUB_MTYPES,
    IMAGE_FITS,
    LOOPBACK_HOSTS,
    RECEIVED_MTYPES,
    TABLE_HIGHLIGHT,
    TABLE_SELECT,
    TABLE_VOTABLE,
    HubConnected,
    HubLost,
    MalformedMessage,
    SampEvent,
    parse_message,
)
from galaxy_studio.errors import UserError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from astropy import samp as astropy_samp
    from astropy.samp.errors import SAMPClientError, SAMPHubError, SAMPProxyError
    from astropy.samp.utils import SAMPXXEServerProxy, ServerProxyPool, get_safe_parser

log = logging.getLogger("galaxy_studio.samp")

CLIENT_NAME = "Galaxy Studio"
CLIENT_DESCRIPTION = "View, label, train on and classify galaxy cutouts"
DEFAULT_TIMEOUT_S = 3.0
LOOPBACK = "127.0.0.1"
_POOL_SIZE = 4
# What can go wrong talking to a hub: refused, reset or timed-out sockets, HTTP and
# XML-RPC faults, and astropy's own errors.
_HUB_ERRORS = (OSError, xmlrpc.client.Error, SAMPHubError, SAMPClientError, SAMPProxyError)

EventSink = Callable[[SampEvent], None]


class SampUnavailable(UserError):
    """No hub to talk to, or the hub failed; nothing was sent."""


@dataclass(frozen=True)
class Sent:
    """Who received a message (client names), for the status bar."""

    mtype: str
    recipients: tuple[str, ...]


def lockfile_path() -> Path:
    """Where the SAMP standard profile says the hub's lock file is: $SAMP_HUB
    (`std-lockurl:file://...`) or ~/.samp."""
    env = os.environ.get("SAMP_HUB", "")
    if env.startswith("std-lockurl:"):
        url = urlparse(env[len("std-lockurl:") :])
        if url.scheme not in ("", "file"):
            raise SampUnavailable(f"SAMP_HUB={env}: only a lock file on this computer is supported")
        return Path(url.path)
    if env:
        raise SampUnavailable(f"SAMP_HUB={env}: not a standard-profile lock URL (std-lockurl:file://...)")
    return Path.home() / ".samp"


def read_hub_params(path: Path) -> dict[str, str]:
    """The hub's secret and URL from its lock file; refuses a hub that is not on this computer."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise SampUnavailable(
            f"no SAMP hub is running (no lock file {path})", "Start TOPCAT, DS9 or Aladin, or run samp_hub"
        ) from None
    except OSError as error:
        raise SampUnavailable(f"{path}: cannot read the SAMP lock file ({error.strerror})") from None
    params = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        params[key.strip()] = value.strip()
    url = params.get("samp.hub.xmlrpc.url", "").replace("\\", "")
    if not url or "samp.secret" not in params:
        raise SampUnavailable(f"{path}: not a SAMP lock file (no samp.secret or samp.hub.xmlrpc.url)")
    host = urlparse(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise SampUnavailable(
            f"{path}: the hub listens on {host}, not on this computer; Galaxy Studio only uses a loopback hub",
            "Start the hub with its address set to 127.0.0.1",
        )
    params["samp.hub.xmlrpc.url"] = url
    return params


class _TimedTransport(xmlrpc.client.Transport):
    """astropy's XXE-safe parser plus a socket timeout on every connection."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host: Any) -> Any:
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        if connection.sock is not None:
            connection.sock.settimeout(self._timeout)
        return connection

    def getparser(self) -> Any:
        return get_safe_parser(self._use_datetime, self._use_builtin_types)


class _TimedHubProxy(astropy_samp.SAMPHubProxy):
    """The hub proxy astropy's client uses, with one fresh timed transport per pooled proxy."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def connect(self, hub: Any = None, hub_params: Any = None, pool_size: int = _POOL_SIZE) -> None:
        url = hub_params["samp.hub.xmlrpc.url"]
        timeout = self._timeout

        def proxy(address: str) -> SAMPXXEServerProxy:
            return SAMPXXEServerProxy(address, allow_none=1, transport=_TimedTransport(timeout))

        self.proxy = ServerProxyPool(pool_size, proxy, url)
        self.ping()
        self.lockfile = dict(hub_params)
        self._connected = True


class SampClient:
    """One registration with the hub at a time; `connect`, `check` and the senders block for at
    most a few timeouts and are meant for a background thread, received messages call
    `on_event` from astropy's server thread."""

    def __init__(
        self,
        on_event: EventSink,
        *,
        icon_url: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
        lockfile: Path | None = None,
    ) -> None:
        self.on_event = on_event
        self.icon_url = icon_url
        self.timeout = timeout
        self.lockfile = lockfile
        self._client: Any = None
        self._hub_url = ""
        self._lost = threading.Event()
        self._lock = threading.RLock()

    @property
    def connected(self) -> bool:
        return self._client is not None and not self._lost.is_set()

    @property
    def hub_url(self) -> str:
        return self._hub_url

    def metadata(self) -> dict[str, str]:
        metadata = {
            "samp.name": CLIENT_NAME,
            "samp.description.text": CLIENT_DESCRIPTION,
            "author.name": "Galaxy Studio",
        }
        if self.icon_url:
            metadata["samp.icon.url"] = self.icon_url
        return metadata

    def connect(self) -> HubConnected:
        """Register with the hub named by the lock file; SampUnavailable says why not."""
        with self._lock:
            if self.connected:
                return HubConnected(self._hub_url)
            self._drop()
            params = read_hub_params(self.lockfile or lockfile_path())
            client = astropy_samp.SAMPIntegratedClient(metadata=self.metadata(), addr=LOOPBACK)
            client.hub = _TimedHubProxy(self.timeout)
            try:
                with astropy_samp.conf.set_temp("use_internet", False):
                    client.connect(hub_params=params, pool_size=_POOL_SIZE)
                for mtype in RECEIVED_MTYPES:
                    client.bind_receive_message(mtype, self._receive, declare=False)
                for mtype in HUB_MTYPES:
                    client.bind_receive_message(mtype, self._hub_message, declare=False)
                client.declare_subscriptions()
            except _HUB_ERRORS as error:
                _stop_quietly(client)
                raise SampUnavailable(
                    f"the SAMP hub at {params['samp.hub.xmlrpc.url']} does not answer ({_describe(error)})",
                    "Restart the hub (or TOPCAT) and connect again",
                ) from None
            self._client = client
            self._hub_url = params["samp.hub.xmlrpc.url"]
            self._lost.clear()
        event = HubConnected(self._hub_url)
        log.info("registered with the SAMP hub at %s", self._hub_url)
        return event

    def disconnect(self) -> None:
        """Unregister (if the hub still answers) and stop listening."""
        with self._lock:
            client = self._client
            if client is not None and not self._lost.is_set():
                try:
                    client.client.unregister()
                except _HUB_ERRORS as error:
                    log.info("unregistering from the SAMP hub failed: %s", _describe(error))
            self._drop()

    def check(self) -> SampEvent | None:
        """Ping the hub; report HubLost once when it has gone, and HubConnected when a hub
        (the same one back, or a new one) accepts a new registration. None: nothing changed."""
        with self._lock:
            if self._client is not None and not self._lost.is_set():
                try:
                    self._client.ping()
                    return None
                except _HUB_ERRORS as error:
                    self._lost.set()
                    self._drop()
                    return HubLost(f"the SAMP hub stopped answering ({_describe(error)})")
            if self._client is not None:
                self._drop()
            try:
                return self.connect()
            except SampUnavailable as error:
                log.debug("no SAMP hub yet: %s", error.message)
                return None

    # Sending ----------------------------------------------------------------------------

    def send_image(self, url: str, name: str) -> Sent:
        """`image.load.fits` to every application that takes FITS images (DS9, Aladin)."""
        return self._notify_all(IMAGE_FITS, {"url": url, "name": name, "image-id": url})

    def send_table(self, url: str, table_id: str, name: str) -> Sent:
        """`table.load.votable` to every application that takes tables (TOPCAT, Aladin)."""
        return self._notify_all(TABLE_VOTABLE, {"url": url, "table-id": table_id, "name": name})

    def highlight_row(self, table_id: str, url: str, row: int) -> Sent:
        return self._notify_all(TABLE_HIGHLIGHT, {"table-id": table_id, "url": url, "row": str(row)})

    def select_rows(self, table_id: str, url: str, rows: list[int]) -> Sent:
        return self._notify_all(
            TABLE_SELECT, {"table-id": table_id, "url": url, "row-list": [str(row) for row in rows]}
        )

    def _notify_all(self, mtype: str, params: dict[str, Any]) -> Sent:
        with self._lock:
            client = self._client
            if client is None or self._lost.is_set():
                raise SampUnavailable("not connected to a SAMP hub", "Use File → Connect to SAMP Hub first")
            try:
                subscribed = client.get_subscribed_clients(mtype)
                if not subscribed:
                    return Sent(mtype, ())
                client.notify_all({"samp.mtype": mtype, "samp.params": params})
                names = tuple(self._client_name(client, public_id) for public_id in subscribed)
            except _HUB_ERRORS as error:
                self._lost.set()
                self._drop()
                raise SampUnavailable(
                    f"the SAMP hub stopped answering ({_describe(error)}); nothing was sent",
                    "Galaxy Studio reconnects by itself when the hub is back",
                ) from None
        log.info("sent %s to %s", mtype, ", ".join(names))
        return Sent(mtype, names)

    @staticmethod
    def _client_name(client: Any, public_id: str) -> str:
        metadata = client.get_metadata(public_id)
        return str(metadata.get("samp.name") or public_id)

    # Receiving (astropy's server thread) ------------------------------------------------

    def _receive(self, private_key: str, sender: str, msg_id: str | None, mtype: str, params: Any, extra: Any) -> None:
        try:
            event = parse_message(sender, mtype, params)
        except MalformedMessage as error:
            log.warning("ignored a malformed SAMP message from %s: %s", sender, error)
            self._reply(msg_id, {"samp.status": "samp.error", "samp.error": {"samp.errortxt": str(error)}})
            return
        self._reply(msg_id, {"samp.status": "samp.ok", "samp.result": {}})
        self.on_event(event)

    def _hub_message(
        self, private_key: str, sender: str, msg_id: str | None, mtype: str, params: Any, extra: Any
    ) -> None:
        """The hub says it is going away (or drops this client): no reply is possible, and
        stopping astropy's server from inside its own thread would deadlock, so the
        registration is only marked lost here and cleared by the next `check`."""
        self._lost.set()
        self.on_event(HubLost("the SAMP hub shut down" if mtype.endswith("shutdown") else "the SAMP hub dropped us"))

    def _reply(self, msg_id: str | None, response: dict[str, Any]) -> None:
        client = self._client
        if msg_id is None or client is None:
            return
        try:
            client.reply(msg_id, response)
        except _HUB_ERRORS as error:
            log.info("could not reply to SAMP message %s: %s", msg_id, _describe(error))

    def _drop(self) -> None:
        client, self._client, self._hub_url = self._client, None, ""
        if client is not None:
            _stop_quietly(client)


def new_table_id() -> str:
    """A table-id no other table on the hub has."""
    return f"galaxy-studio-{uuid4().hex[:12]}"


def _stop_quietly(client: Any) -> None:
    """Stop astropy's listening thread and close the proxies, without talking to the hub."""
    inner = client.client
    if inner is not None and inner.is_running:
        try:
            inner.stop(timeout=2.0)
        except SAMPClientError as error:
            log.info("SAMP client thread did not stop: %s", error)
    client.hub.disconnect()


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer within the timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = str(error).strip()
    return text or type(error).__name__
