"""Shared helpers of the dashboard API tests: one HTTP request to loulan-dashboard and the checks
of rocketmq-dashboard's envelope {status, data, errMsg}. Standard library only."""
import http.cookiejar
import json
import sys
import urllib.parse
import urllib.request


class Dash:
    """A client of one dashboard (base URL), keeping its cookies like a browser."""

    def __init__(self, base, timeout=30):
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def raw(self, method, path, params=None, body=None, headers=None):
        """(HTTP status, headers, body bytes) of one request; body: dict/list sent as JSON, or bytes."""
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        data = None
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = body
        csrf = self.cookie("XSRF-TOKEN")
        if csrf and method not in ("GET", "HEAD"):
            hdrs.setdefault("X-XSRF-TOKEN", csrf)
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=self.timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c.value
        return None

    def call(self, method, path, params=None, body=None, headers=None):
        """The parsed envelope; fails the test when the answer is not one."""
        status, hdrs, data = self.raw(method, path, params, body, headers)
        check(status == 200, f"{method} {path}: HTTP {status}: {data[:200]!r}")
        check(hdrs.get("Content-Type", "").startswith("application/json"), f"{path}: content type {hdrs.get('Content-Type')}")
        env = json.loads(data)
        check(set(env) == {"status", "data", "errMsg"}, f"{path}: not an envelope: {env}")
        return env

    def ok(self, method, path, params=None, body=None):
        """data of a successful call (status 0, errMsg null)."""
        env = self.call(method, path, params, body)
        check(env["status"] == 0 and env["errMsg"] is None, f"{method} {path} {params}: {env['errMsg']}")
        return env["data"]

    def err(self, method, path, params=None, body=None):
        """errMsg of a failed call (status -1, data null)."""
        env = self.call(method, path, params, body)
        check(env["status"] == -1 and env["data"] is None and env["errMsg"], f"{method} {path} {params}: expected an error, got {env}")
        return env["errMsg"]


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg, file=sys.stderr)
        sys.exit(1)


def has_fields(obj, fields, what):
    """Every field of the spec's shape is present."""
    check(isinstance(obj, dict), f"{what}: not an object: {obj!r}")
    missing = [f for f in fields if f not in obj]
    check(not missing, f"{what}: missing {missing} in {sorted(obj)}")
