"""Login of loulan-dashboard over real HTTP (loginRequired=true): the users file's admin and
normal user, wrong passwords, the session cookie's flags, CSRF on writes, a normal user's
"no permission", logout. Arguments: <dashboard URL>."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from dashboard_http import Dash, check  # noqa: E402

url = sys.argv[1]
anon = Dash(url)
env = anon.ok("GET", "login/check.query")
check(env == {"loginRequired": True, "logined": False}, f"check.query before login: {env}")
check(anon.err("GET", "cluster/list.query") == "user not login", "an API call without a session is refused")
check(anon.err("POST", "login/login.do", {"username": "admin", "password": "wrong"}) == "Bad username or password!",
      "a wrong password is refused")
check(anon.err("POST", "login/login.do", {"username": "nobody", "password": "admin"}) == "Bad username or password!",
      "an unknown user is refused")
check(anon.err("POST", "login/login.do", {"username": "admin", "password": "admin"}) == "Bad username or password!",
      "no built-in admin/admin")

admin = Dash(url)
status, hdrs, _ = admin.raw("POST", "login/login.do", {"username": "admin", "password": "Adm1n-pw"})
cookies = hdrs.get_all("Set-Cookie") or []
sess = [c for c in cookies if c.startswith("LOULAN_SESSION=")]
check(len(sess) == 1 and "HttpOnly" in sess[0] and "SameSite=Strict" in sess[0], f"session cookie flags: {cookies}")
check(any(c.startswith("XSRF-TOKEN=") for c in cookies), f"CSRF cookie: {cookies}")
me = admin.ok("GET", "login/check.query")
check(me["logined"] is True and me["loginUserName"] == "admin" and me["loginUserRole"] == 1, f"after login: {me}")
data = admin.ok("GET", "ops/homePage.query")
check("currentNamesrv" in data, f"the admin reads: {data}")

# a write without the CSRF header is refused even for the admin
status, _, body = admin.raw("POST", "ops/updateIsVIPChannel.do", {"useVIPChannel": "false"},
                            headers={"X-XSRF-TOKEN": "0" * 32})
check(b"CSRF" in body, f"wrong CSRF token refused: {body!r}")
check(admin.ok("POST", "ops/updateIsVIPChannel.do", {"useVIPChannel": "false"}) is True, "the admin changes a setting")

user = Dash(url)
info = user.ok("POST", "login/login.do", {"username": "user1", "password": "user1-pw"})
check(info["loginUserName"] == "user1" and info["loginUserRole"] == 0, f"normal user login: {info}")
check("currentNamesrv" in user.ok("GET", "ops/homePage.query"), "a normal user reads")
check(user.err("POST", "ops/updateIsVIPChannel.do", {"useVIPChannel": "true"}) == "no permission",
      "a normal user cannot change OPS settings")
check(user.err("POST", "topic/createOrUpdate.do", body={"clusterNameList": ["DefaultCluster"], "topicName": "UserTopic",
                                                       "writeQueueNums": 8, "readQueueNums": 8, "perm": 6})
      == "no permission", "a normal user cannot create a topic")
check(user.err("POST", "topic/deleteTopic.do", {"topic": "TopicTest"}) == "no permission",
      "a normal user cannot delete a topic")
user.ok("POST", "login/logout.do")
check(user.err("GET", "ops/homePage.query") == "user not login", "logged out")
check(admin.ok("GET", "login/check.query")["logined"] is True, "another session lives on")
print("dashboard login: ok")
