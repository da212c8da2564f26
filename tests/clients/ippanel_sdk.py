"""The official IPPanel Edge Python SDK (ippanel-python-sdk) against linekeeper.

Run by tests/clients/run.sh, which seeds the database and passes:
  LK_URL               the server, e.g. http://127.0.0.1:40123
  LK_RESELLER_KEY      API key of the reseller that owns LK_NUMBER_ID
  LK_NUMBER_ID         the reseller's number, assigned and unassigned here
  LK_TARGET_USER_ID    the user under the reseller it is assigned to

The SDK (0.1.0) has one `requests.Session` carrying `Authorization: <key>`
(no scheme word) and `Content-Type: application/json`, a base URL ending in
`/v1/api`, and only send methods (`send_webservice`, `send_pattern`,
`send_votp`, all `POST {base}/send`), which call `raise_for_status()`. It has
no assign or unassign method, so those two go through the SDK's own session
and base URL; `/send` is a route linekeeper does not serve and goes through
the SDK's own `send_webservice`. Every call shares that one session, and the
last check asserts that they all went over one keep-alive connection.

Each check prints PASS or FAIL; the exit code is 1 if any failed.
"""

import json
import os
import sys

import requests

import ippanel
from ippanel import Client

URL = os.environ["LK_URL"].rstrip("/")
KEY = os.environ["LK_RESELLER_KEY"]
NUMBER_ID = int(os.environ["LK_NUMBER_ID"])
TARGET_USER_ID = int(os.environ["LK_TARGET_USER_ID"])

OK = {
    "data": None,
    "meta": {
        "status": True,
        "message": "انجام شد",
        "message_parameters": [],
        "message_code": "200-1",
    },
}


def failure(message, code):
    return {
        "data": None,
        "meta": {
            "status": False,
            "message": message,
            "message_parameters": [],
            "message_code": code,
            "errors": {},
        },
    }


NOT_ASSIGNED = failure("number not assigned to user", "400-1")
NO_ROUTE_FA = failure("مسیر مورد نظر یافت نشد", "404-1")
NO_ROUTE_EN = failure("The requested route was not found", "404-1")

results = []


def report(name, ok, detail=""):
    results.append(ok)
    line = ("PASS " if ok else "FAIL ") + "python ippanel-python-sdk: " + name
    if not ok and detail:
        line += " -- " + detail
    print(line, flush=True)


def check_response(name, response, status, body):
    """The whole parsed body must equal `body`, and the status `status`."""
    raw = response.content.decode("utf-8", "replace")
    try:
        got = response.json()
    except ValueError:
        report(name, False, f"HTTP {response.status_code}, body not JSON: {raw!r}")
        return
    if response.status_code != status or got != body:
        report(
            name,
            False,
            f"want HTTP {status} {json.dumps(body, ensure_ascii=False)}; "
            f"got HTTP {response.status_code} {raw}",
        )
        return
    report(name, True)


def run(name, call, status, body):
    try:
        response = call()
    except requests.HTTPError as e:  # the SDK's raise_for_status()
        response = e.response
    except Exception as e:  # a broken connection, say: this check fails, the next ones run
        report(name, False, f"{type(e).__name__}: {e}")
        return
    if isinstance(response, dict):  # an SDK method returned: it saw a 2xx
        report(name, False, f"the SDK returned {response!r}; want HTTP {status}")
        return
    check_response(name, response, status, body)


def main():
    client = Client(KEY, base_url=URL + "/v1/api")
    session = client.session

    # The client's end of the connection each answer came on (urllib3 keeps
    # the connection on the response until its body is read, after hooks).
    def note_port(response, **_):
        try:
            ports.append(response.raw._connection.sock.getsockname()[1])
        except Exception:
            ports.append(None)

    ports = []
    session.hooks["response"].append(note_port)

    def panel_post(path, payload):
        # What an SDK method does (Client._post), minus raise_for_status, so
        # that the status and body of a refusal can be checked.
        return session.post(f"{client.base_url}{path}", json=payload)

    grant = {"number_id": NUMBER_ID, "target_user_id": TARGET_USER_ID}

    def send_webservice():
        return client.send_webservice(
            message="linekeeper client test", sender="+983000505", recipients=["+989120000000"]
        )

    run("assign (POST /v1/api/numbers/assign)",
        lambda: panel_post("/numbers/assign", {**grant, "send": True, "gets": True}),
        200, OK)
    # An unknown route answered early, in the middle of the session: the
    # requests after it must still be served on the same connection.
    run("send_webservice: unknown route POST /v1/api/send, Persian 404 envelope",
        send_webservice, 404, NO_ROUTE_FA)
    run("unassign (POST /v1/api/numbers/unassign)",
        lambda: panel_post("/numbers/unassign", grant), 200, OK)
    run("second unassign: 400 number not assigned to user",
        lambda: panel_post("/numbers/unassign", grant), 400, NOT_ASSIGNED)
    session.headers["Accept-Language"] = "en"
    try:
        run("send_webservice with Accept-Language: en, English 404 envelope",
            send_webservice, 404, NO_ROUTE_EN)
    finally:
        del session.headers["Accept-Language"]

    # One keep-alive connection for the whole session: every answer came on
    # the same client port. (urllib3's pool counters cannot tell: when the
    # server has closed the connection, urllib3 reconnects inside the same
    # connection object, and num_connections stays 1.)
    report("all 5 calls over one keep-alive connection",
           len(ports) == 5 and None not in ports and len(set(ports)) == 1,
           f"client port of each answer: {ports}")

    return 0 if all(results) else 1


if __name__ == "__main__":
    print(f"# ippanel-python-sdk {ippanel.__version__}, requests {requests.__version__}", flush=True)
    sys.exit(main())
