"""Crash isolation of channel apps (issue 7): IRC, XMPP and Telegram run at once against a real
ngIRCd, a real Prosody and the local Bot API server. The IRC app is SIGKILLed while a conversation
runs on every channel: XMPP and Telegram are untouched (same pids, replies delivered), IRC comes
back by itself, and the reply its conversation was waiting for is delivered once."""
import os
import signal
import time
import unittest

from harness import Kernel, fast_supervisor, wait_for
from irc_fixture import IrcUser, NgIrcd
from llm_server import LlmServer
from telegram_fixture import FakeBotApi
from xmpp_fixture import Prosody

IRC_APP, XMPP_APP, TG_APP = "@openclawos/irc", "@openclawos/xmpp", "@openclawos/telegram"
IRC_NICK, XMPP_BOT, TG_USER = "openclaw", "bot@localhost", 4242


class CrashIsolationTest(unittest.TestCase):
    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)
        self.ircd = NgIrcd().start()
        self.addCleanup(self.ircd.cleanup)
        self.prosody = Prosody()
        self.addCleanup(self.prosody.cleanup)
        self.prosody.register("bot", "botpw")
        self.prosody.register("alice", "alicepw")
        self.prosody.start()
        self.api = FakeBotApi().start()
        self.addCleanup(self.api.stop)

    def start_kernel(self):
        config = {
            "models": {"providers": {"test": {"api": "openai-completions", "baseUrl": self.llm.base_url,
                                              "apiKey": "sk-test"}},
                       "requestTimeoutMs": 10000, "retryBaseDelayMs": 20, "maxRetries": 1},
            "agents": {"default": {"model": "test/gpt-test", "systemPrompt": "You are the test agent."}},
            "apps": {"supervisor": fast_supervisor(startTimeout=8000, restartDelay=300)},
            "channels": {
                "irc": {"enabled": True, "server": "127.0.0.1", "port": self.ircd.port, "nick": IRC_NICK,
                        "allowFrom": ["alice"], "floodDelayMs": 100},
                "xmpp": {"enabled": True, "jid": XMPP_BOT, "password": "botpw", "host": "127.0.0.1",
                         "port": self.prosody.port, "tls": "disabled", "allowFrom": ["alice@localhost"]},
                "telegram": {"enabled": True, "botToken": self.api.token, "apiBaseUrl": self.api.base_url,
                             "allowFrom": [str(TG_USER)], "pollTimeoutSec": 2},
            },
        }
        k = Kernel(config, env={"OPENCLAWOS_SHIPPED_PACKAGES": os.environ["OPENCLAW_PACKAGES"]})
        self.addCleanup(k.cleanup)
        k.start()
        for app in (IRC_APP, XMPP_APP, TG_APP):
            k.wait_state(app, "ready", timeout=20)
        return k

    def llm_saw(self, text):
        for r in self.llm.requests():
            users = [m for m in r.get("messages", []) if m.get("role") == "user"]
            if users and text in str(users[-1].get("content")):
                return True
        return False

    def test_sigkill_of_irc_leaves_xmpp_and_telegram_untouched_and_loses_no_reply(self):
        k = self.start_kernel()
        irc_alice = IrcUser(self.ircd.port, "alice")
        self.addCleanup(irc_alice.close)
        xmpp_alice = self.prosody.client("alice", "alicepw")
        self.addCleanup(xmpp_alice.close)

        # Every channel works before the crash.
        irc_alice.privmsg(IRC_NICK, "warm up irc")
        self.assertEqual(irc_alice.wait_privmsg(IRC_NICK, target="alice")[0].text, "echo: warm up irc")
        mark = xmpp_alice.mark()
        xmpp_alice.send_chat(XMPP_BOT, "warm up xmpp")
        got = xmpp_alice.wait_message(lambda m: m.sender_bare == XMPP_BOT and m.body, since=mark)
        self.assertEqual(got.body, "echo: warm up xmpp")
        self.api.private_message(TG_USER, "warm up telegram")
        self.assertEqual(self.api.wait_sent(1, chat_id=TG_USER)[0]["text"], "echo: warm up telegram")

        before = {app: k.status_of(app) for app in (IRC_APP, XMPP_APP, TG_APP)}
        # Slow answers, so a run is in flight on every channel when the IRC app dies.
        self.llm.script({"match": "slow xmpp", "delayMs": 2500, "content": "xmpp answer after the crash"},
                        {"match": "slow telegram", "delayMs": 2500, "content": "telegram answer after the crash"},
                        {"match": "slow irc", "delayMs": 1500, "content": "irc answer that outlived its app"})
        mark = xmpp_alice.mark()
        xmpp_alice.send_chat(XMPP_BOT, "slow xmpp question")
        self.api.private_message(TG_USER, "slow telegram question")
        irc_alice.privmsg(IRC_NICK, "slow irc question")
        wait_for(lambda: all(self.llm_saw(t) for t in ("slow xmpp", "slow telegram", "slow irc")), 10,
                 what="all three runs to reach the model")

        os.kill(before[IRC_APP]["pid"], signal.SIGKILL)
        killed_at = time.monotonic()

        # XMPP and Telegram: their replies arrive, their processes never changed.
        got = xmpp_alice.wait_message(lambda m: m.sender_bare == XMPP_BOT and m.body == "xmpp answer after the crash",
                                      since=mark, timeout=20)
        self.assertIsNotNone(got)
        sent = self.api.wait_sent(2, chat_id=TG_USER)
        self.assertEqual(sent[1]["text"], "telegram answer after the crash")
        for app in (XMPP_APP, TG_APP):
            now = k.status_of(app)
            self.assertEqual(now["state"], "ready", app)
            self.assertEqual(now["pid"], before[app]["pid"], f"{app} was restarted")
            self.assertEqual(now["restartCount"], before[app]["restartCount"], app)

        # IRC comes back by itself, with a new process, and delivers the reply its run produced.
        wait_for(lambda: k.status_of(IRC_APP).get("state") == "ready"
                 and k.status_of(IRC_APP).get("pid") != before[IRC_APP]["pid"], 20, what="the IRC app to come back")
        self.assertEqual(k.status_of(IRC_APP)["restartCount"], before[IRC_APP]["restartCount"] + 1)
        replies = irc_alice.wait_privmsg(IRC_NICK, target="alice", count=2, timeout=30)
        self.assertEqual(replies[1].text, "irc answer that outlived its app")
        self.assertLess(time.monotonic() - killed_at, 40)

        # It works again, and nothing was delivered twice on any channel.
        irc_alice.privmsg(IRC_NICK, "after the crash")
        replies = irc_alice.wait_privmsg(IRC_NICK, target="alice", count=3, timeout=20)
        self.assertEqual(replies[2].text, "echo: after the crash")
        time.sleep(1.0)
        texts = [m.text for m in irc_alice.privmsgs(IRC_NICK, target="alice")]
        self.assertEqual(texts.count("irc answer that outlived its app"), 1, texts)
        self.assertEqual(len(self.api.sent_messages(TG_USER)), 2)
        xmpp_bodies = [m.body for m in xmpp_alice.messages(lambda m: m.sender_bare == XMPP_BOT and m.body)]
        self.assertEqual(xmpp_bodies.count("xmpp answer after the crash"), 1, xmpp_bodies)


if __name__ == "__main__":
    unittest.main()
