"""paho-mqtt 2.x on an asyncio event loop, MQTT 5, QoS 1, persistent sessions.

Why not paho's own thread (``loop_start``)? A simulated village runs hundreds of agents in one
process; one thread per client would not scale, and callbacks would race with the event loop. Here
paho's socket is registered with the loop (``add_reader`` / ``add_writer``) and ``loop_misc`` runs
from a periodic task, so every paho callback runs on the loop thread.

The only blocking call, the TCP connect, runs in a worker thread; the socket callbacks it triggers are
marshalled back to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from loaxa_common.aio import cancel_all, cancel_and_wait
from loaxa_link import takeover
from loaxa_link.diagnose import explain
from loaxa_link.inorder_acks import InOrderAcks, Token

logger = logging.getLogger(__name__)

READ_BUDGET = 64
"""Packets read per socket wake-up before other tasks get a turn (the rest is read next iteration)."""


def _has_input(sock: object) -> bool:
    """True if ``sock`` has bytes to read now: decrypted TLS bytes buffered, or readable socket."""
    pending = getattr(sock, "pending", None)
    if pending is not None and pending() > 0:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return bool(readable)


def _no_delay(sock: object) -> None:
    """Turn Nagle off on paho's TCP socket (paho leaves it on).

    A node answers a command with its ``received`` ack and then the command's PUBACK: two small writes
    back to back, and with Nagle the second waits for the TCP acknowledgement of the first (up to the
    peer's 40 ms delayed ACK). Measured with ``loaxa-sim bench fanout``'s bare round trip, 20 clients:
    p50 ~75 ms → ~45 ms on a loaded 2-core machine; no cost at 1 000 clients.
    """
    with contextlib.suppress(OSError, AttributeError, ValueError):
        if sock.family in (socket.AF_INET, socket.AF_INET6):  # type: ignore[attr-defined]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]


MessageHandler = Callable[[str, bytes], "Awaitable[None] | asyncio.Future[object] | None"]


class LinkError(RuntimeError):
    """Base class of transport errors."""


class NotConnectedError(LinkError):
    """Publish attempted while the link is down (the caller queues and retries)."""


class PublishRefusedError(LinkError):
    """The broker answered a QoS 1 publish with a failure reason (e.g. 135: ACL denied)."""

    def __init__(self, topic: str, reason: ReasonCode) -> None:
        super().__init__(f"broker refused publish to {topic}: {reason} ({reason.value})")
        self.reason_code = reason.value


@dataclass
class LinkConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    keepalive: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    """> 0 is required for ``clean_start=False`` to survive a disconnect under MQTT 5 (measured)."""
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    connect_timeout_s: float = 10.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    subscriptions: list[str] = field(default_factory=list)
    will: tuple[str, bytes] | None = None
    """Last will (topic, payload), published retained by the broker when the link dies uncleanly."""
    birth: tuple[str, bytes] | None = None
    """Published retained on every successful connect (the ``online`` state)."""
    takeover_backoff_s: float = 60.0
    """After the broker handed the session to another client with the same id, wait this long (doubling
    per takeover, up to ``takeover_backoff_max_s``) before reconnecting."""
    takeover_backoff_max_s: float = 900.0
    manual_ack: bool = False
    """Acknowledge a QoS 1 message to the broker only when its handler has finished (MQTT 5 manual
    acknowledgement). The handler must make the message durable before it returns; a process killed
    earlier gets the message again from its persistent session instead of losing it."""
    receive_maximum: int | None = None
    """MQTT 5 Receive Maximum: QoS 1 messages the broker may have in flight to this client, unacknowledged.
    Without it Mosquitto 2.0 sends 20 at a time (measured), which caps a manually acknowledging client that
    commits in batches at 20 messages per commit."""
    max_unhandled: int | None = None
    """With ``manual_ack``: stop reading from the broker while this many received messages are not yet
    acknowledged, and read again once half of them are. The receive maximum should bound that by itself,
    but Mosquitto 2.0.11 and 2.0.12 (Debian 12's broker) honour it only until the first acknowledgement:
    each PUBACK lets up to a whole receive maximum more into flight (measured: receive maximum 20, ten
    PUBACKs, 210 unacknowledged), so a slow consumer's backlog moves from the broker into its memory.
    Paused, the backlog waits at the broker; a packet is still read every third of the keepalive so the
    connection stays alive. Publishes made on a paused link wait for their PUBACK behind that backlog:
    give a consumer that can fall behind a separate link for what it sends."""


class MqttLink:
    """One MQTT session driven by the running event loop.

    ``start()`` returns at once and keeps (re)connecting in the background with jittered backoff;
    ``wait_connected()`` waits for the first CONNACK. ``publish()`` waits for the PUBACK and raises
    :class:`PublishRefusedError` when the broker refuses, :class:`NotConnectedError` when offline.
    """

    def __init__(self, config: LinkConfig, on_message: MessageHandler | None = None) -> None:
        self.config = config
        self._on_message_cb = on_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=paho.MQTTv5,
            reconnect_on_failure=False,
            manual_ack=config.manual_ack,
        )
        c = self._client
        c.connect_timeout = config.connect_timeout_s
        if config.username:
            c.username_pw_set(config.username, config.password)
        if config.tls_ca:
            c.tls_set(ca_certs=config.tls_ca, certfile=config.tls_cert, keyfile=config.tls_key,
                      cert_reqs=ssl.CERT_REQUIRED)
        if config.will:
            c.will_set(config.will[0], config.will[1], qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_subscribe  # same shape (mid, reason codes): one table of pending futures
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_socket_register_write
        c.on_socket_unregister_write = self._on_socket_unregister_write
        self._pending_pub: dict[int, asyncio.Future[None]] = {}
        self._early_pub: dict[int, ReasonCode] = {}
        self._pending_sub: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._acks = InOrderAcks()
        self._paused = False
        self.read_pauses = 0
        """Times reading stopped because ``max_unhandled`` messages were waiting (see :class:`LinkConfig`)."""
        self._last_read = 0.0
        self._handlers: set[asyncio.Task[None]] = set()
        self._connected = asyncio.Event()
        self._ready = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self._misc_task: asyncio.Task[None] | None = None
        self._disconnected: asyncio.Event = asyncio.Event()
        self._connect_result: asyncio.Future[ReasonCode] | None = None
        self._sock = None
        self.connects = 0
        self.disconnects = 0
        self.takeovers = 0
        """Times another client with the same id took this session (see :mod:`loaxa_link.takeover`)."""
        self._taken_over = False
        self._connected_at: float | None = None
        self._short_streak = 0
        self._backoff_level = 0
        self.on_taken_over: Callable[[int], None] | None = None
        """Called (on the loop) with the count each time the session is taken over."""
        self.last_error: Exception | None = None
        """Why the last connection attempt failed (TLS, refused credentials, unreachable); None once connected."""
        self.on_connected: Callable[[bool], Awaitable[None] | None] | None = None
        """Called on the loop after each CONNACK success with ``session_present``."""

    # ------------------------------------------------------------------ lifecycle

    def set_will(self, topic: str, payload: bytes) -> None:
        """Set the retained last will; must be called before :meth:`start`."""
        self.config.will = (topic, payload)
        self._client.will_set(topic, payload, qos=1, retain=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._supervisor = self._loop.create_task(self._supervise(), name=f"mqtt:{self.config.client_id}")

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until connected *and* subscribed (and the birth published): safe to expect messages."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    async def stop(self, final: tuple[str, bytes] | None = None, end_session: bool = False) -> None:
        """Disconnect cleanly (optionally publishing ``final`` retained first, e.g. ``offline``).

        With manual acknowledgement, handlers still running are cancelled first and their messages
        stay unacknowledged: the broker delivers them again to the next session. ``end_session``: the
        broker discards the session (its subscriptions and anything queued for it) at this disconnect.
        """
        self._stopping = True
        await self._cancel_handlers()
        if final and self.connected:
            with contextlib.suppress(LinkError, TimeoutError):
                async with asyncio.timeout(5):
                    await self.publish(final[0], final[1], retain=True)
        await cancel_and_wait(self._supervisor)
        if self._client.is_connected() or self._sock is not None:
            props = None
            if end_session:
                props = Properties(PacketTypes.DISCONNECT)
                props.SessionExpiryInterval = 0
            self._client.disconnect(properties=props)
            if end_session:  # let the DISCONNECT reach the broker before the socket goes
                with contextlib.suppress(Exception):
                    self._client.loop_write()
        self._teardown_socket()
        self._connected.clear()
        self._ready.clear()
        self._fail_pending(NotConnectedError("link stopped"))

    async def kill(self) -> None:
        """Drop the TCP connection without DISCONNECT, so the broker publishes the last will (tests)."""
        self._stopping = True
        await self._cancel_handlers()
        await cancel_and_wait(self._supervisor)
        sock = self._sock
        self._teardown_socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self._connected.clear()
        self._ready.clear()
        self._fail_pending(NotConnectedError("link killed"))

    async def _cancel_handlers(self) -> None:
        if self.config.manual_ack and self._handlers:
            for err in await cancel_all(list(self._handlers)):
                logger.error("mqtt %s: a handler ended with %s while stopping", self.config.client_id, err)

    async def _supervise(self) -> None:
        delay = self.config.reconnect_min_s
        while not self._stopping:
            try:
                await self._connect_once()
                self.last_error = None
                delay = self.config.reconnect_min_s
                self._disconnected.clear()
                await self._disconnected.wait()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # every failure is retried; the reason is logged
                self.last_error = err
                logger.warning("mqtt %s: connect to %s:%s failed: %s (%s)", self.config.client_id,
                               self.config.host, self.config.port, err,
                               explain(err, self.config.host, self.config.port).message)
            if self._stopping:
                return
            if self._taken_over:
                await asyncio.sleep(self._takeover_delay())
                continue
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _takeover_delay(self) -> float:
        """Back off instead of fighting: two clients with one id would otherwise take the session from
        each other every second, forever (each reconnect kicks the other off)."""
        self._taken_over = False
        step = min(self.config.takeover_backoff_s * 2 ** max(0, self._backoff_level - 1),
                   self.config.takeover_backoff_max_s)
        delay = step * (0.75 + random.random() / 2)
        logger.error("mqtt %s: another client connected with this client id and took the session over (%d time(s));"
                     " waiting %.0fs before reconnecting", self.config.client_id, self.takeovers, delay)
        return delay

    async def _connect_once(self) -> None:
        assert self._loop is not None
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        if self.config.receive_maximum:
            props.ReceiveMaximum = self.config.receive_maximum
        self._connect_result = self._loop.create_future()
        rc = await asyncio.to_thread(
            self._client.connect, self.config.host, self.config.port, self.config.keepalive,
            clean_start=False, properties=props,
        )
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise LinkError(f"connect returned {rc}")
        try:
            async with asyncio.timeout(self.config.connect_timeout_s):
                reason = await self._connect_result
        except TimeoutError:
            self._client.disconnect()
            self._teardown_socket()
            raise LinkError("no CONNACK within timeout") from None
        if reason.is_failure:
            self._teardown_socket()
            raise LinkError(f"broker refused connection: {reason}")

    # ------------------------------------------------------------------ socket plumbing

    def _in_loop(self, fn: Callable[..., object], *args: object) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread_id():
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _loop_thread_id(self) -> int | None:
        return getattr(self._loop, "_thread_id", None)

    def _on_socket_open(self, client: paho.Client, userdata: object, sock) -> None:
        self._in_loop(self._register_socket, sock)

    def _register_socket(self, sock) -> None:
        assert self._loop is not None
        self._sock = sock
        self._paused = False
        _no_delay(sock)
        self._loop.add_reader(sock, self._on_readable)
        if self._misc_task is None or self._misc_task.done():
            self._misc_task = self._loop.create_task(self._misc_loop(), name=f"mqtt-misc:{self.config.client_id}")

    def _on_readable(self) -> None:
        """Read every packet that is ready, not just one.

        paho's ``loop_read`` handles ONE packet per call when no QoS 2 flow is in flight. Over TLS
        that is a lost wake-up: the first ``recv`` pulls a whole TLS record (often several MQTT
        packets) into the SSL object's buffer, the socket stops being readable, and the remaining
        packets wait for the next bytes from the broker — which may never come. Over plain TCP it
        costs one event-loop iteration per packet. So: read while the SSL buffer or the socket still
        holds data, a bounded number of packets per wake-up, and come back at once if more remain.
        """
        self._last_read = time.monotonic()
        for _ in range(READ_BUDGET):
            if self._paused:
                return
            if self._client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is None:
                return
            if not _has_input(self._sock):
                return
        if self._loop is not None and self._sock is not None and not self._paused:
            self._loop.call_soon(self._on_readable)

    def _pause_reading(self) -> None:
        if self._paused or self._sock is None or self._loop is None:
            return
        self._paused = True
        self.read_pauses += 1
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock)
        logger.debug("mqtt %s: %d messages unacknowledged; reading paused", self.config.client_id,
                     self._acks.waiting)

    def _resume_reading(self) -> None:
        if not self._paused or self._sock is None or self._loop is None:
            return
        self._paused = False
        self._loop.add_reader(self._sock, self._on_readable)
        self._loop.call_soon(self._on_readable)  # TLS may hold decrypted bytes the socket will not signal

    def _keep_alive_while_paused(self) -> None:
        """Read one packet now and then while paused: paho drops a connection it has read nothing from for
        two keepalives (its PINGRESP waits behind the backlog, but any bytes read count)."""
        if (self._paused and self._sock is not None
                and time.monotonic() - self._last_read >= self.config.keepalive / 3 and _has_input(self._sock)):
            self._last_read = time.monotonic()
            self._client.loop_read()

    def _on_socket_close(self, client: paho.Client, userdata: object, sock) -> None:
        self._in_loop(self._teardown_socket)

    def _teardown_socket(self) -> None:
        if self._sock is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._sock)
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._sock)
        self._sock = None
        if self._misc_task is not None:
            self._misc_task.cancel()
            self._misc_task = None

    def _on_socket_register_write(self, client: paho.Client, userdata: object, sock) -> None:
        self._in_loop(self._add_writer, sock)

    def _add_writer(self, sock) -> None:
        if self._loop is not None and self._sock is sock:
            self._loop.add_writer(sock, self._client.loop_write)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: object, sock) -> None:
        self._in_loop(self._remove_writer, sock)

    def _remove_writer(self, sock) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(sock)

    async def _misc_loop(self) -> None:
        while self._client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._keep_alive_while_paused()
            await asyncio.sleep(1)

    # ------------------------------------------------------------------ paho callbacks (loop thread)

    def _on_connect(self, client, userdata, flags, reason_code: ReasonCode, properties) -> None:
        if self._connect_result is not None and not self._connect_result.done():
            self._connect_result.set_result(reason_code)
        if reason_code.is_failure:
            return
        if self._connected.is_set():  # paho may call on_connect twice; be idempotent
            return
        self._acks.new_connection()
        self._connected_at = time.monotonic()
        self.connects += 1
        self._connected.set()
        assert self._loop is not None
        self._loop.create_task(self._after_connect(bool(flags.session_present)))

    async def _after_connect(self, session_present: bool) -> None:
        """Subscribe, publish the birth, then declare the link ready — for this connection only.

        A SUBACK or PUBACK that does not come in time is logged, never left to kill this task (the
        ``on_connected`` work — ack flush, reconcile report — would silently never run). And if the
        connection dropped meanwhile, ``ready`` is not set: a stale ready would let ``wait_ready``
        return while the link is down, and the next connection's own subscriptions are what count.
        """
        generation = self.connects
        for topic in self.config.subscriptions:
            try:
                await self.subscribe(topic)
            except (LinkError, TimeoutError) as err:
                logger.error("mqtt %s: subscribe %s failed: %s", self.config.client_id, topic,
                             err or "no SUBACK in time")
        if self.config.birth:
            try:
                await self.publish(*self.config.birth, retain=True)
            except LinkError as err:
                logger.error("mqtt %s: birth message failed: %s", self.config.client_id, err)
        if generation != self.connects or not self._connected.is_set():
            logger.info("mqtt %s: connection lost while subscribing; the next one subscribes again",
                        self.config.client_id)
            return
        self._ready.set()
        if self.on_connected is not None:
            result = self.on_connected(session_present)
            if asyncio.iscoroutine(result):
                await result

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        self._ready.clear()
        self._disconnected.set()
        if self._connect_result is not None and not self._connect_result.done():
            self._connect_result.set_exception(LinkError(f"disconnected before CONNACK: {reason_code}"))
        self._fail_pending(NotConnectedError(f"disconnected: {reason_code}"))
        if was:
            self.disconnects += 1
            if not self._stopping:
                logger.warning("mqtt %s: disconnected (%s); will reconnect", self.config.client_id, reason_code)
        if was and not self._stopping:
            self._judge_lost_connection(reason_code, flags)

    def _judge_lost_connection(self, reason_code: object, flags: object) -> None:
        lasted = time.monotonic() - (self._connected_at or time.monotonic())
        lost = takeover.LostConnection(lasted, getattr(reason_code, "value", None),
                                       bool(getattr(flags, "is_disconnect_packet_from_server", False)))
        verdict = takeover.classify(lost, self._short_streak, self._backoff_level > 0)
        if verdict == takeover.Verdict.SHORT:
            self._short_streak += 1
            return
        self._short_streak = 0
        if verdict == takeover.Verdict.NORMAL:
            if lasted >= takeover.STABLE_S:
                self._backoff_level = 0
            return
        self._taken_over = True
        self.takeovers += 1
        self._backoff_level += 1
        if self.on_taken_over is not None:
            self.on_taken_over(self.takeovers)

    def _fail_pending(self, err: Exception) -> None:
        for fut in (*self._pending_pub.values(), *self._pending_sub.values()):
            if not fut.done():
                fut.set_exception(err)
        self._pending_pub.clear()
        self._pending_sub.clear()

    def _on_message(self, client, userdata, msg: paho.MQTTMessage) -> None:
        manual = self.config.manual_ack and msg.qos > 0
        token = self._acks.received(msg.mid, msg.qos) if manual else None
        if manual and self.config.max_unhandled and self._acks.waiting >= self.config.max_unhandled:
            self._pause_reading()
        result = None
        try:
            if self._on_message_cb is not None:
                result = self._on_message_cb(msg.topic, msg.payload)
        except Exception:
            logger.exception("mqtt %s: handler failed for %s", self.config.client_id, msg.topic)
        if asyncio.iscoroutine(result):
            assert self._loop is not None
            task = self._loop.create_task(self._run_handler(result, msg.topic, token))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        elif isinstance(result, asyncio.Future):
            # a future resolved by the application (a batch committed): no task per message
            if token is not None:
                result.add_done_callback(lambda fut, t=token: self._future_done(fut, t))
        elif token is not None:
            self._ack_handled(token)

    async def _run_handler(self, handler: Awaitable[None], topic: str, token: Token | None) -> None:
        try:
            await handler
        except Exception:
            logger.exception("mqtt %s: handler failed for %s", self.config.client_id, topic)
        # a handler that failed is acknowledged too: it would fail again on every redelivery
        if token is not None:
            self._ack_handled(token)

    def _future_done(self, fut: asyncio.Future[object], token: Token) -> None:
        """A cancelled future (the application stopping) is left unacknowledged: the broker re-sends it."""
        if not fut.cancelled():
            if fut.exception() is not None:
                logger.error("mqtt %s: handler failed", self.config.client_id, exc_info=fut.exception())
            self._ack_handled(token)

    def _ack_handled(self, token: Token) -> None:
        for mid, qos in self._acks.handled(token):
            self._client.ack(mid, qos)
        if self._paused and self._acks.waiting <= (self.config.max_unhandled or 0) // 2:
            self._resume_reading()

    def _on_publish(self, client, userdata, mid: int, reason_code: ReasonCode, properties) -> None:
        fut = self._pending_pub.pop(mid, None)
        if fut is None:
            # PUBACK before publish() registered its future, or a QoS 0 completion written later:
            # keep it briefly for publish() to find; bounded so stale QoS 0 entries cannot pile up
            self._early_pub[mid] = reason_code
            if len(self._early_pub) > 256:
                self._early_pub.pop(next(iter(self._early_pub)))
            return
        if not fut.done():
            fut.set_result(None) if not reason_code.is_failure else fut.set_exception(
                PublishRefusedError("?", reason_code))

    def _on_subscribe(self, client, userdata, mid: int, reason_codes: list[ReasonCode], properties) -> None:
        fut = self._pending_sub.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(reason_codes)

    # ------------------------------------------------------------------ API

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                      timeout: float = 15.0) -> None:
        if not self.connected:
            raise NotConnectedError(f"not connected; cannot publish to {topic}")
        assert self._loop is not None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise NotConnectedError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        if qos == 0:
            self._early_pub.pop(info.mid, None)  # QoS 0 "acks" at once; never awaited
            return
        early = self._early_pub.pop(info.mid, None)
        if early is not None:
            if early.is_failure:
                raise PublishRefusedError(topic, early)
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        self._pending_pub[info.mid] = fut
        try:  # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancel that lands with the PUBACK
            async with asyncio.timeout(timeout):
                await fut
        except PublishRefusedError as err:
            raise PublishRefusedError(topic, ReasonCode(PacketTypes.PUBACK, identifier=err.reason_code)) from None
        except TimeoutError:
            raise LinkError(f"no PUBACK for {topic} within {timeout}s") from None
        finally:
            self._pending_pub.pop(info.mid, None)

    async def subscribe(self, topic_filter: str, qos: int = 1, timeout: float = 15.0) -> None:
        if not self.connected:
            raise NotConnectedError(f"not connected; cannot subscribe to {topic_filter}")
        assert self._loop is not None
        rc, mid = self._client.subscribe(topic_filter, qos=qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise NotConnectedError(f"subscribe {topic_filter} failed: {paho.error_string(rc)}")
        fut: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._pending_sub[mid] = fut
        try:
            async with asyncio.timeout(timeout):
                codes = await fut
        finally:
            self._pending_sub.pop(mid, None)
        for code in codes:
            if code.is_failure:
                raise LinkError(f"broker refused subscription {topic_filter}: {code}")

    async def unsubscribe(self, topic_filter: str, timeout: float = 15.0) -> None:
        if not self.connected:
            raise NotConnectedError(f"not connected; cannot unsubscribe from {topic_filter}")
        assert self._loop is not None
        rc, mid = self._client.unsubscribe(topic_filter)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise NotConnectedError(f"unsubscribe {topic_filter} failed: {paho.error_string(rc)}")
        fut: asyncio.Future[list[ReasonCode]] = self._loop.create_future()
        self._pending_sub[mid] = fut
        try:
            async with asyncio.timeout(timeout):
                await fut
        finally:
            self._pending_sub.pop(mid, None)

    async def set_subscriptions(self, filters: list[str]) -> None:
        """Replace the subscription list (e.g. HQ moved the node to other zones).

        The new list is what every later (re)connect subscribes; when connected, the added filters are
        subscribed and the dropped ones unsubscribed now (a persistent session would otherwise keep them).
        """
        old = list(self.config.subscriptions)
        self.config.subscriptions = list(dict.fromkeys(filters))
        if not self.connected:
            return
        for topic_filter in self.config.subscriptions:
            if topic_filter not in old:
                await self.subscribe(topic_filter)
        for topic_filter in old:
            if topic_filter not in self.config.subscriptions:
                await self.unsubscribe(topic_filter)
