"""The message archive (XEP-0313 Message Archive Management), with Prosody mod_mam's options.

Wiring only: archiving lives in :mod:`.archiver`, queries and preferences in :mod:`.handlers`,
retention in :mod:`.expiry`, the protocol's pure logic in :mod:`.policy`, :mod:`.prefs`,
:mod:`.query` and :mod:`.results`.
"""

from __future__ import annotations

import secrets
from typing import Any

from garrulus.core import delivery
from garrulus.core.durations import DURATION_EXPECTED, parse_duration
from garrulus.core.event_types import SessionEvent, StanzaEvent, UserEvent
from garrulus.core.module_api import ModuleContext
from garrulus.core.options import Option
from garrulus.core.routes import USER_DELETED, iq_route, stanza_route
from garrulus.modules.mam.archiver import SHOULD_STORE, ArchiveCheck, Archiver, note_archive_id
from garrulus.modules.mam.expiry import expire
from garrulus.modules.mam.handlers import QueryHandlers, queried
from garrulus.modules.mam.ids import IdCodec
from garrulus.modules.mam.policy import DEFAULT_ARCHIVE_POLICY, DONT_ARCHIVE_NAMESPACES
from garrulus.modules.mam.prefs_store import PrefsStore
from garrulus.modules.mam.retraction import MESSAGE_RETRACT, TOMBSTONE_FEATURE
from garrulus.modules.message import MESSAGE_OFFLINE
from garrulus.modules.offline import OFFLINE_BROADCAST
from garrulus.storage.api import DeleteQuery
from garrulus.xmpp import ns
from garrulus.xmpp.errors import StanzaError
from garrulus.xmpp.jid import JID

OPTIONS: tuple[Option[Any], ...] = (
    DEFAULT_ARCHIVE_POLICY,
    Option(
        "max_archive_query_results",
        int,
        50,
        "the largest page a client may ask for; a query with no <max/> gets 20",
    ),
    Option(
        "archive_expires_after",
        Any,
        "1w",
        "how long messages are kept",
        parse=parse_duration,
        expected=DURATION_EXPECTED,
    ),
    Option("mam_include_total", bool, True, "include the RSM <count/> in query results"),
    Option(
        "dont_archive_namespaces",
        list[str],
        sorted(DONT_ARCHIVE_NAMESPACES),
        "payload namespaces left out of archived copies (a message with only those is not kept)",
    ),
    Option("archive_store", str, "archive", "the store holding archives (one archive store here)"),
    Option(
        "mam_smart_enable",
        bool,
        False,
        "archive a user's messages only once they have used the archive",
    ),
    Option(
        "archive_retraction_tombstones",
        bool,
        True,
        "replace a retracted message (XEP-0424) in the archive with a tombstone",
    ),
    Option(
        "archive_query_rate",
        float,
        20.0,
        "archive queries per second one account may make once its burst is spent (0: no limit)",
    ),
    Option(
        "archive_query_burst",
        int,
        200,
        "archive queries one account may make at once (a catch-up of 10000 messages is 200)",
    ),
    Option(
        "archive_cleanup_interval",
        int,
        4 * 60 * 60,
        "seconds between expiry runs (Prosody's default: 4 hours)",
        per_host=False,
    ),
)

# Archive before routing and delivery modules (and before carbons) look at the message; the
# blocking module refuses first (1000), so a refused message is not archived.
PRIORITY = 100
# Take the sender's stanza-id off an outgoing message after carbons copied it (-10), before it
# is routed to the contact.
UNSTAMP_PRIORITY = -1000
ID_KEY = "mam_id_key"


async def _id_codec(module: ModuleContext) -> IdCodec:
    """The id key is made once and kept in storage, so ids stay valid across restarts."""
    stored = await module.keyval.get("", "", ID_KEY)
    if not isinstance(stored, str):
        stored = secrets.token_hex(32)
        await module.keyval.set("", "", ID_KEY, stored)
    return IdCodec(bytes.fromhex(stored))


async def setup(module: ModuleContext) -> Archiver:
    host = module.host
    codec = await _id_codec(module)
    prefs = PrefsStore(module)
    archiver = Archiver(module, prefs, codec)
    handlers = QueryHandlers(module, prefs, codec)

    module.add_account_feature(ns.MAM)
    # DSC-09: the domain lists it too (as ejabberd and MongooseIM do), because some clients
    # look only there (Profanity 0.13 asks the domain, never the account); queries still go to
    # the account, the domain answers none (MAM-07).
    module.add_feature(ns.MAM)
    module.add_account_feature(ns.MAM_EXTENDED)
    module.add_account_feature(ns.SID)
    # XEP-0424: retractions are always archived (policy, ARC-26), which is what this feature
    # promises; "#tombstone" only where retracted originals are replaced (DSC-08).
    module.add_account_feature(MESSAGE_RETRACT)
    if archiver.tombstones:
        module.add_account_feature(TOMBSTONE_FEATURE)
    if module.archive.caps.fulltext:
        module.add_account_feature(ns.FULLTEXT)

    module.hook(SHOULD_STORE, archiver.default_decision, -100)
    for target in ("bare", "full"):
        module.hook(stanza_route("message", target, outgoing=True), archiver.outgoing, PRIORITY)  # type: ignore[arg-type]
        module.hook(
            stanza_route("message", target, outgoing=True),  # type: ignore[arg-type]
            archiver.unstamp,
            UNSTAMP_PRIORITY,
        )
        module.hook(stanza_route("message", target), archiver.incoming, PRIORITY)  # type: ignore[arg-type]

    module.hook(iq_route("set", "self", ns.MAM, "query"), handlers.query)
    module.hook(iq_route("get", "self", ns.MAM, "query"), handlers.form)
    module.hook(iq_route("get", "self", ns.MAM, "metadata"), handlers.metadata)
    module.hook(iq_route("set", "self", ns.MAM, "metadata"), handlers.metadata_set)
    module.hook(iq_route("get", "self", ns.MAM, "prefs"), handlers.get_prefs)
    module.hook(iq_route("set", "self", ns.MAM, "prefs"), handlers.set_prefs)

    async def not_yours(event: StanzaEvent) -> bool:
        # Another user's archive is forbidden (ACL-01, ACL-04); a missing account answers like
        # any IQ to a missing account, revealing nothing (ACL-02).
        owner = event.to_jid
        if await module.accounts.get(owner.domain, owner.local or "") is None:
            raise StanzaError("service-unavailable")
        raise StanzaError("forbidden", "only the owner may use this archive")

    for iq_type in ("get", "set"):
        for name in ("query", "metadata", "prefs"):
            module.hook(iq_route(iq_type, "bare", ns.MAM, name), not_yours)  # type: ignore[arg-type]

    def archived_not_bounced(event: StanzaEvent) -> bool | None:
        # OFF-04, as Prosody's message/offline/handle hook: when nothing else took a message
        # for a user with no available resource (no offline storage here), the core would
        # bounce it; but it is in their archive, so it is not lost and the sender is not told
        # it failed. Just above the core's last resort, so any delivery module goes first.
        if note_archive_id(event) is None:
            return None
        if any(s.priority >= 0 for s in host.user_sessions(event.to_jid).values()):
            return None
        return True

    module.hook(stanza_route("message", "bare"), archived_not_bounced, delivery.LAST + 1)

    def claim_offline(event: StanzaEvent) -> bool | None:
        # OFF-04 with the message module: it asks who takes a message no resource can; the
        # offline module goes first, and when it cannot (full, or a kind it does not keep but
        # the archive did), the archive has it, so the sender gets no error.
        return True if note_archive_id(event) is not None else None

    module.hook(MESSAGE_OFFLINE, claim_offline, -10)

    def skip_offline(event: SessionEvent) -> bool | None:
        # OFF-03, as Prosody: a session that has queried its archive catches up from there.
        return True if queried(event.session.state) else None

    module.hook(OFFLINE_BROADCAST, skip_offline)

    async def user_deleted(event: UserEvent) -> None:
        owner = JID(event.username, host.name)
        await module.archive.delete(DeleteQuery(str(owner)))
        prefs.forget(event.username)
        archiver.forget_user(owner)

    module.hook(USER_DELETED, user_deleted)

    # One expiry task per server: the first host that loads the module runs it for all.
    server = module.server
    if not getattr(server, "_mam_expiry_scheduled", False):
        server._mam_expiry_scheduled = True  # type: ignore[attr-defined]
        module.on_unload(lambda: setattr(server, "_mam_expiry_scheduled", False))
        interval = float(module.option("archive_cleanup_interval"))

        async def run_expiry() -> None:
            await expire(server)

        module.every(interval, run_expiry, first_after=min(60.0, interval))
    return archiver


__all__ = ["MESSAGE_RETRACT", "ArchiveCheck", "setup"]
