"""Monitoring: subscriptions and their alerts (the change log of a write, matched against watched
neighbourhoods), signed webhook delivery, and the notices addressed to departments.
"""

from .alerts import alerts_due, record_write, sweep
from .delivery import (
    ALERT_HEADER,
    DELIVERY_STATES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Deliverer,
    DeliveryPolicy,
    deliver_pending,
    httpx_post,
    payload,
    retry_alert,
    sign,
    verify_signature,
)
from .notices import acknowledge_notice, address_notices, department_view, notices_due, notices_for
from .subscriptions import MAX_DEPTH, MAX_FANOUT, subscribe, subscription_view, unsubscribe

__all__ = [
    "ALERT_HEADER", "DELIVERY_STATES", "MAX_DEPTH", "MAX_FANOUT", "SIGNATURE_HEADER", "TIMESTAMP_HEADER",
    "Deliverer", "DeliveryPolicy", "acknowledge_notice", "address_notices", "alerts_due", "deliver_pending",
    "department_view", "httpx_post", "notices_due", "notices_for", "payload", "record_write", "retry_alert", "sign",
    "subscribe", "subscription_view", "sweep", "unsubscribe", "verify_signature",
]
