"""What the notification use cases share: the unit of work, the clock, the background role."""

from __future__ import annotations

from services.notification.repository import NotificationRepository
from shared.fleet import spec
from shared.unit_of_work import UnitOfWork, Work

NotificationWork = Work[NotificationRepository]
NotificationUnitOfWork = UnitOfWork[NotificationRepository]
BACKGROUND_ROLE = str(spec("notification").background_role)
