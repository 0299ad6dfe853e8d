"""Alerts: events raised in the transaction of their cause (sync/alerts.py, the outbox), delivered
to webhooks and Web Push subscriptions with retries (docs/alerts.md).

    worker.py      the loop every server process runs: fan out, claim, attempt, retry, scan
    recipients.py  who receives an event: webhooks by event and warehouse, people by scope and role
    duty.py        which officers are on duty now (the guard roster): only they receive pushes
    retry.py       when the next attempt is due, and when a delivery becomes a dead letter
    targets.py     which webhook URLs are allowed (TLS, no loopback or private address unless asked)
    webhooks.py    the signed POST of one event
    webpush.py     VAPID keys, RFC 8291 encryption, the request to the push service
    schedule.py    the scheduled events: inspection.overdue, device.stale
    service.py     adding and removing webhooks and subscriptions (CLI and API), audited
"""
