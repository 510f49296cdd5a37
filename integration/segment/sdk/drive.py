"""Sends one user's events through a Python tracking SDK, as an app would.

    drive.py segment|rudder HOST WRITE_KEY USER APP_VERSION [refused]

With "refused", only the event ingest refuses is sent. Prints one JSON line per message the SDK built ({"sent": message}), then
{"errors": [...]} with every failure the SDK reported through on_error, once
the SDK has flushed its queue.
"""
import json
import sys
from datetime import datetime, timedelta, timezone

sdk, host, write_key, user, app_version = sys.argv[1:6]
refused_only = sys.argv[6:] == ["refused"]
if sdk == "segment":
    from segment.analytics import Client
elif sdk == "rudder":
    from rudderstack.analytics import Client
else:
    sys.exit("unknown sdk " + sdk)

errors = []


def on_error(err, batch):
    errors.append({"error": str(err), "messages": [m.get("messageId") for m in batch]})


# Everything tracked below goes out in one batch (upload_size 100, 0.5 s).
client = Client(write_key=write_key, host=host, on_error=on_error, max_retries=5)
context = {
    "app": {"name": "Shop", "version": app_version, "build": "710"},
    "os": {"name": "iOS", "version": "18.1"},
    "device": {"model": "iPhone15,2", "manufacturer": "Apple"},
    "locale": "en-GB",
    "timezone": "Europe/London",
}
ordered_at = (datetime.now(timezone.utc) - timedelta(seconds=90)).replace(microsecond=123000)
bad = lambda: client.track(user, "x" * 300, {"bad": True}, context=context)
sent = [bad()] if refused_only else [
    client.identify(user, {"email": user + "@example.com", "plan": "pro", "address": {"city": "Leeds", "zip": "LS1"}}, context=context),
    client.track(user, "Order Completed",
                 {"total": 19.9, "currency": "EUR", "items": ["sku-1", "sku-2"], "coupon": {"code": "WINTER", "percent": 10}},
                 context=context, timestamp=ordered_at),
    client.screen(user, name="Checkout", properties={"step": 2}, context=context),
    # An event name over the 200 characters ingest allows: refused alone.
    bad(),
    client.track(user, "App Opened", context=context),
]
for ok, msg in sent:
    print(json.dumps({"sent": msg}, default=str), flush=True)
client.flush()
client.join()
print(json.dumps({"errors": errors}), flush=True)
