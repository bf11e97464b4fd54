"""The tables of one project's database. Importing this package registers all of them."""

from db.models.base import Base
from db.models.broadcasts import Broadcast, BroadcastStatus, TagMatch
from db.models.business import PersonalLink, Product, Purchase
from db.models.channels import (
    BotRole,
    BusinessConnection,
    Channel,
    ChannelKind,
    Secret,
    SecretPurpose,
)
from db.models.contacts import (
    Contact,
    ContactChannel,
    ContactTag,
    SubscriptionStatus,
    Tag,
    Variable,
    VariableRetention,
)
from db.models.funnels import Funnel, FunnelVersion
from db.models.history import HistoryEvent, StaffAuditEntry
from db.models.matching import SynonymGroup
from db.models.messaging import (
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    ProcessedUpdate,
)
from db.models.runs import LIVE_RUN_STATUSES, Run, RunStatus
from db.models.settings import ProjectSetting

__all__ = [
    "LIVE_RUN_STATUSES",
    "Base",
    "BotRole",
    "Broadcast",
    "BroadcastStatus",
    "BusinessConnection",
    "Channel",
    "ChannelKind",
    "Contact",
    "ContactChannel",
    "ContactTag",
    "Funnel",
    "FunnelVersion",
    "HistoryEvent",
    "Notification",
    "NotificationKind",
    "OutboxMessage",
    "OutboxStatus",
    "PersonalLink",
    "ProcessedUpdate",
    "Product",
    "ProjectSetting",
    "Purchase",
    "Run",
    "RunStatus",
    "Secret",
    "SecretPurpose",
    "StaffAuditEntry",
    "SubscriptionStatus",
    "SynonymGroup",
    "Tag",
    "TagMatch",
    "Variable",
    "VariableRetention",
]
