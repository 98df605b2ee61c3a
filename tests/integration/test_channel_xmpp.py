"""The XMPP channel app (@openclawos/xmpp, packages/xmpp) end to end: a real prosody started by the
test on a loopback port with throw-away accounts, the shipped app run by a real kernel, the test LLM
server as the model, and a human at a stdlib XMPP client (xmpp_fixture.py)."""
import json
import os
import time
import unittest

from harness import Kernel, fast_supervisor, wait_for
from llm_server import LlmServer
from xmpp_fixture import Prosody

APP_ID = "@openclawos/xmpp"
ROOM = "lobby@conference.localhost"
BOT = "bot@localhost"


class XmppChannelTest(unittest.TestCase):
    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)
        self.server = Prosody()
        self.addCleanup(self.server.cleanup)
        self.server.register("bot", "botpw")
        self.server.register("alice", "alicepw")
        self.server.register("mallory", "mallorypw")
        self.server.start()

    def start_kernel(self, **xmpp):
        channel = {"enabled": True, "jid": BOT, "password": "botpw", "host": "127.0.0.1",
                   "port": self.server.port, "tls": "disabled", "rooms": [ROOM],
                   "allowFrom": ["alice@localhost"]}
        channel.update(xmpp)
        config = {
            "models": {"providers": {"test": {"api": "openai-completions", "baseUrl": self.llm.base_url,
                                              "apiKey": "sk-test"}},
                       "requestTimeoutMs": 10000, "retryBaseDelayMs": 20, "maxRetries": 2},
            "agents": {"default": {"model": "test/gpt-test", "systemPrompt": "You are the test agent."}},
            "apps": {"supervisor": fast_supervisor()},
            "channels": {"xmpp": channel},
        }
        k = Kernel(config, env={"OPENCLAWOS_SHIPPED_PACKAGES": os.environ["OPENCLAW_PACKAGES"]})
        self.addCleanup(k.cleanup)
        k.start()
        k.wait_state(APP_ID, "ready", timeout=15)
        self.kernel = k
        # `ready` comes before the XMPP login. A chat sent before the bot is available goes to the
        # server's offline storage and arrives later marked delayed, which the app ignores by
        # design: wait until it has logged in, sent its presence and joined its room.
        wait_for(lambda: self.bot_joins() >= 1, 30, 0.1, "the app to log in and join its room")
        return k

    def user_texts(self):
        texts = []
        for r in self.llm.requests():
            users = [m.get("content") for m in r.get("messages", []) if m.get("role") == "user"]
            if users:
                texts.append(str(users[-1]))
        return texts

    def bot_joins(self):
        """How many times the app has joined (or created) the room, from its log."""
        return sum(1 for line in self.kernel.app_log(APP_ID) if ROOM in line and ("joined room" in line or "created room" in line))

    def alice_in_room(self, alice, joins=1):
        """Alice joins the room once the bot is in it: the bot created it and, as its owner, sees
        the occupants' real JIDs (the room's default is to show them to moderators only)."""
        wait_for(lambda: self.bot_joins() >= joins, 30, 0.1, "the app to join the room")
        alice.join_room(ROOM, "alice", wait_for_nick="bot")

    def test_direct_chat_gets_the_agent_reply(self):
        self.start_kernel()
        alice = self.server.client("alice", "alicepw")
        alice.send_chat(BOT, "hello from alice")
        reply = alice.wait_message(lambda m: m.sender_bare == BOT, timeout=20, what="the agent's reply")
        self.assertEqual(reply.body, "echo: hello from alice")
        self.assertEqual(reply.type, "chat")
        self.assertEqual(reply.sender_bare, BOT)
        self.assertTrue(reply.id, "replies carry an id (the delivery's messageId)")
        # The kernel recorded the delivery to the conversation's address with the stanza id.
        entries = wait_for(lambda: [e for e in self.kernel.control().call("outbox.list", {})["entries"]
                                    if e["status"] == "delivered"], 10, what="a delivered outbox entry")
        self.assertEqual(entries[0]["channelId"], "xmpp")
        self.assertEqual(entries[0]["target"], "alice@localhost")
        self.assertEqual(entries[0].get("platformMessageId"), reply.id)
        sessions = self.kernel.control().call("sessions.list", {})
        self.assertIn("xmpp:alice@localhost", json.dumps(sessions))

    def test_idle_app_does_not_spin(self):
        """libstrophe is driven by socket readiness, not a polling loop: an idle, connected app
        uses next to no CPU."""
        self.start_kernel()
        wait_for(lambda: self.bot_joins() >= 1, 30, 0.1, "the app to join the room")
        pid = self.kernel.status_of(APP_ID)["pid"]

        def cpu_seconds():
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        before = cpu_seconds()
        time.sleep(3.0)
        self.assertLess(cpu_seconds() - before, 0.3)

    def test_room_mention_is_answered_in_the_room_and_chatter_ignored(self):
        self.start_kernel()
        alice = self.server.client("alice", "alicepw")
        self.alice_in_room(alice)
        mark = alice.mark()
        alice.send_groupchat(ROOM, "lunch anyone?")
        alice.send_groupchat(ROOM, "bot: what is the plan?")
        reply = alice.wait_message(lambda m: m.type == "groupchat" and m.nick == "bot", timeout=20, since=mark,
                                   what="the bot's answer in the room")
        self.assertEqual(reply.body, "echo: what is the plan?")  # the address "bot: " is stripped
        self.assertEqual(reply.sender_bare, ROOM)
        time.sleep(1.0)
        texts = self.user_texts()
        self.assertFalse(any("lunch" in t for t in texts), texts)  # unmentioned chatter never reached the agent
        self.assertEqual(len(alice.messages(lambda m: m.nick == "bot", since=mark)), 1)

    def test_unknown_sender_is_refused_once(self):
        self.start_kernel()
        mallory = self.server.client("mallory", "mallorypw")
        mallory.send_chat(BOT, "let me in")
        refusal = mallory.wait_message(lambda m: m.sender_bare == BOT, timeout=15, what="the refusal")
        self.assertIn("does not know you yet", refusal.body)
        self.assertIn("mallory@localhost", refusal.body)
        self.assertIn("channels.xmpp.allowFrom", refusal.body)
        mallory.send_chat(BOT, "please?")
        time.sleep(1.5)
        self.assertEqual(len(mallory.messages(lambda m: m.sender_bare == BOT)), 1)
        self.assertEqual(self.llm.requests(), [])
        logs = "\n".join(self.kernel.app_log(APP_ID))
        self.assertIn("mallory@localhost", logs)

    def test_domain_entry_allows_the_whole_domain(self):
        self.start_kernel(allowFrom=["@localhost"])
        mallory = self.server.client("mallory", "mallorypw")
        mallory.send_chat(BOT, "hi via domain")
        reply = mallory.wait_message(lambda m: m.sender_bare == BOT, timeout=20)
        self.assertEqual(reply.body, "echo: hi via domain")

    def test_reconnects_after_the_server_restarts(self):
        self.start_kernel()
        alice = self.server.client("alice", "alicepw")
        alice.send_chat(BOT, "before restart")
        alice.wait_message(lambda m: m.body == "echo: before restart", timeout=20)

        wait_for(lambda: self.bot_joins() >= 1, 30, 0.1, "the app to join the room")

        self.server.restart()
        alice.reconnect()
        # The app logs in again by itself and rejoins its room.
        self.alice_in_room(alice, joins=2)
        alice.send_chat(BOT, "after restart")
        reply = alice.wait_message(lambda m: m.body == "echo: after restart", timeout=30)
        self.assertEqual(reply.sender_bare, BOT)
        mark = alice.mark()
        alice.send_groupchat(ROOM, "bot, still there?")
        reply = alice.wait_message(lambda m: m.type == "groupchat" and m.nick == "bot", timeout=20, since=mark)
        self.assertEqual(reply.body, "echo: still there?")
        self.assertEqual(self.kernel.status_of(APP_ID).get("restartCount", 0), 0)  # reconnected, not restarted

    def test_reply_made_while_the_server_is_down_is_delivered_after_reconnect(self):
        self.llm.script({"match": "slow question", "delayMs": 2500, "content": "a late answer"})
        self.start_kernel()
        alice = self.server.client("alice", "alicepw")
        alice.send_chat(BOT, "slow question")
        self.llm.wait_for_requests(1, timeout=20)
        self.server.stop()  # the reply is produced while the server is down: the app cannot deliver it
        time.sleep(4.0)
        self.server.start()
        alice.reconnect()
        reply = alice.wait_message(lambda m: m.body == "a late answer", timeout=60, what="the late reply")
        self.assertEqual(reply.sender_bare, BOT)
        entries = wait_for(lambda: [e for e in self.kernel.control().call("outbox.list", {})["entries"]
                                    if e["content"] == "a late answer" and e["status"] == "delivered"], 10)
        self.assertGreaterEqual(entries[0]["attempts"], 2, entries[0])  # the first attempt(s) failed
        logs = "\n".join(self.kernel.app_log(APP_ID))
        self.assertIn("disconnected", logs)


if __name__ == "__main__":
    unittest.main()
