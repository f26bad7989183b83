"""Monitoring and withdrawal notices: subscriptions, alerts with their webhook delivery state, notices.

A department's subscriptions and alerts belong to the department, an investigator's to the key that
made them; admins see all. Someone else's subscription or alert answers 404, not 403: who watches
whom is itself confidential. Notices are listed per addressed department.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from graph_credit import monitor, pii, workflow
from graph_credit.journal import Alert, NoticeView, SubscriptionView
from graph_credit.monitor.owners import Watcher, alert_of, alerts_of, subscription_of, subscriptions_of

from ..deps import engine, resolve, respond, today
from ..responses import Alerts, DeliveryRound, Notices, SubscriptionAnswer, Subscriptions, Sweep
from ..schemas import Day, NoticeAckIn, SubscriptionIn
from ..security import Principal, charge, require

router = APIRouter(prefix="/v1", tags=["monitoring and notices"])
WATCHERS = ("department", "investigator")
STATES = "^(pending|delivered|failed|cancelled|none)$"
OWN_SUBSCRIPTIONS = "the caller's own subscriptions"  # the audited purpose when none is given


def _purpose(purpose: str | None = Header(None, alias="X-Purpose", description="Why personal data is read "
                                          "(audited); at most 200 characters")) -> str | None:
    # Checked here rather than as maxLength in the schema: the header is often fixed per client, so a
    # generated over-long value would be replaced before it is sent (and the schema would then lie).
    if purpose is not None and len(purpose) > 200:
        raise HTTPException(422, {"code": "invalid_request", "field": "X-Purpose",
                                  "message": "X-Purpose: at most 200 characters"})
    return purpose


Purpose = Depends(_purpose)


def _watcher(who: Principal) -> Watcher:
    return Watcher(who.key_id, who.department, who.role == "admin")


@router.post("/subscriptions", response_model=SubscriptionAnswer, status_code=201)
def post_subscription(body: SubscriptionIn, request: Request, response: Response,
                      who: Principal = Depends(require(*WATCHERS))) -> dict:
    """Watch a subject (and its related parties within `depth`); 200 with the existing one if already watched.

    With `webhook_url`, every alert is POSTed there with `X-Graph-Credit-Signature: sha256=<hex>`, the
    HMAC-SHA256 of `"<X-Graph-Credit-Timestamp>.<body>"` under the subscription's secret (shown once).
    The URL must be https and its host must resolve to public addresses (a private receiver must be
    allow-listed by the deployment); redirects are not followed."""
    eng = engine(request)
    subject = workflow.known(eng.store, resolve(body.subject))
    charge(request, who, 1, body.depth)
    row, created, secret = monitor.subscribe(
        eng.store, subject=subject, depth=body.depth, owner_key=who.key_id, owner_name=who.name, role=who.role,
        department=who.department, purpose=body.purpose, since=today(request), webhook_url=body.webhook_url,
        secret=body.secret, label=pii.mask(body.label), egress_policy=request.app.state.settings.webhook_receivers)
    if not created:
        response.status_code = 200
    out = monitor.subscription_view(row) | {"created": created}
    if secret:
        out["secret"] = secret  # generated: the only time it is shown
    return respond(request, who, body.purpose, "subscription", out)


@router.api_route("/subscriptions", methods=["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"], include_in_schema=False)
def subscriptions_other_methods() -> JSONResponse:
    """Starlette would answer another method with the first route's Allow header only (POST)."""
    return JSONResponse({"error": {"code": "method_not_allowed", "message": "Method Not Allowed", "field": None}},
                        status_code=405, headers={"Allow": "GET, POST"})


@router.get("/subscriptions", response_model=Subscriptions)
def get_subscriptions(request: Request, status: str | None = Query(None, pattern="^(active|cancelled)$"),
                      purpose: str | None = Purpose, who: Principal = Depends(require(*WATCHERS))) -> dict:
    """The caller's subscriptions (a department's: all of the department's; admins: everyone's)."""
    rows = [monitor.subscription_view(r) for r in subscriptions_of(engine(request).store, _watcher(who), status)]
    # The caller's own watch list, each entry subscribed with its purpose: audited, without asking again.
    return respond(request, who, purpose or OWN_SUBSCRIPTIONS, "subscriptions", {"subscriptions": rows})


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionView)
def delete_subscription(subscription_id: str, request: Request, purpose: str | None = Purpose,
                        who: Principal = Depends(require(*WATCHERS))) -> dict:
    """Stop watching; alerts not yet delivered are kept as `cancelled`."""
    subscription_of(engine(request).store, _watcher(who), subscription_id)
    row = monitor.unsubscribe(engine(request).store, subscription_id)
    return respond(request, who, purpose or OWN_SUBSCRIPTIONS, "subscription", monitor.subscription_view(row))


@router.get("/alerts", response_model=Alerts)
def get_alerts(request: Request, state: str | None = Query(None, pattern=STATES),
               subscription_id: str | None = Query(None, max_length=64), limit: int = Query(200, ge=1, le=5000),
               purpose: str | None = Purpose, who: Principal = Depends(require(*WATCHERS))) -> dict:
    """The caller's alerts, newest first, each with its delivery state, attempts, last error and next attempt."""
    rows = alerts_of(engine(request).store, _watcher(who), state, subscription_id, limit)
    return respond(request, who, purpose, "alerts", {"alerts": rows})


@router.get("/alerts/{alert_id}", response_model=Alert)
def get_alert(alert_id: str, request: Request, purpose: str | None = Purpose,
              who: Principal = Depends(require(*WATCHERS))) -> dict:
    return respond(request, who, purpose, "alert", alert_of(engine(request).store, _watcher(who), alert_id))


@router.post("/alerts/{alert_id}/retry", response_model=Alert)
def retry_alert(alert_id: str, request: Request, purpose: str | None = Purpose,
                who: Principal = Depends(require(*WATCHERS))) -> dict:
    """Queue a failed or cancelled alert for delivery again (fresh attempt budget, history kept)."""
    alert_of(engine(request).store, _watcher(who), alert_id)
    row = monitor.retry_alert(engine(request).store, alert_id)
    return respond(request, who, purpose, "alert", row)


@router.post("/deliveries", response_model=DeliveryRound)
def post_deliver(request: Request, who: Principal = Depends(require("admin"))) -> dict:
    """Run one delivery round now (what the background deliverer does every interval)."""
    settings = request.app.state.settings
    return monitor.deliver_pending(engine(request).store, policy=settings.delivery_policy())


@router.get("/notices", response_model=Notices)
def get_notices(request: Request, acknowledged: bool | None = None,
                change: str | None = Query(None, max_length=32), department: str | None = Query(None, max_length=64),
                limit: int = Query(500, ge=1, le=10000), purpose: str | None = Purpose,
                who: Principal = Depends(require("department"))) -> dict:
    """Withdrawal notices addressed to the caller's department: what changed (withdrawn, repaired, exited,
    removed, expired; clarification or clawback), why, since when, and the department's measures it touches.
    Admins see every notice, or one department's view with `department`."""
    if who.role == "admin":
        dept = department
    elif who.department:
        dept = who.department
    else:
        raise HTTPException(403, {"code": "forbidden", "message": "this key is not bound to a department"})
    rows = monitor.notices_for(engine(request).store, dept, acknowledged, change)
    return respond(request, who, purpose, "notices", {"department": dept, "notices": rows[::-1][:limit]})


@router.post("/notices/{notice_id}/ack", response_model=NoticeView)
def post_ack(notice_id: str, request: Request, body: NoticeAckIn | None = None,
             department: str | None = Query(None, max_length=64), purpose: str | None = Purpose,
             who: Principal = Depends(require("department"))) -> dict:
    """Acknowledge a notice for the caller's department (admins name the department); the first one stands.
    The body (a note) is optional."""
    dept = department if who.role == "admin" and department else who.department
    if not dept:
        raise HTTPException(403, {"code": "forbidden", "message": "this key is not bound to a department"})
    row = monitor.acknowledge_notice(engine(request).store, notice_id, dept, who.name or who.key_id,
                                     pii.mask(body.note) if body else "")
    return respond(request, who, purpose, "notice", row)


@router.post("/notices/sweep", response_model=Sweep)
def post_sweep(request: Request, as_of: Day | None = None, who: Principal = Depends(require("admin"))) -> dict:
    """Expiry notices and expiry alerts as of a date (default today, never later: a sweep dated in the
    future would announce as expired measures still in force); idempotent, also run daily by the deliverer."""
    now = today(request)
    if as_of is not None and as_of > now:
        raise HTTPException(422, {"code": "invalid_value", "field": "as_of",
                                  "message": f"as_of: {as_of} is after today ({now}); measures cannot be "
                                             "announced as expired before they expire"})
    eng = engine(request)
    return monitor.sweep(eng.store, as_of or now, jurisdiction=eng.jurisdiction)
