"""The IRC channel app (@openclawos/irc) end to end: a real ngIRCd on a loopback port, the real
kernel running the shipped package, the test LLM server, and humans played by IrcUser clients."""
import os
import time
import unittest

from harness import Kernel, KernelTest, fast_supervisor, wait_for
from irc_fixture import IrcUser, NgIrcd
from llm_server import LlmServer

APP = "@openclawos/irc"
BOT = "openclaw"


class IrcTestBase(KernelTest):
    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)
        self.ircd = NgIrcd().start()
        self.addCleanup(self.ircd.cleanup)

    def config(self, **irc):
        section = {"enabled": True, "server": "127.0.0.1", "port": self.ircd.port, "nick": BOT,
                   "channels": ["#test"], "allowFrom": ["alice", "carol!*@127.0.0.1"], "floodDelayMs": 100}
        section.update(irc)
        return {
            "models": {"providers": {"test": {"api": "openai-completions", "baseUrl": self.llm.base_url,
                                              "apiKey": "sk-test"}},
                       "requestTimeoutMs": 5000, "retryBaseDelayMs": 20, "maxRetries": 1},
            "agents": {"default": {"model": "test/gpt-test", "systemPrompt": "You are the IRC test agent."}},
            "apps": {"supervisor": fast_supervisor(startTimeout=5000)},
            "channels": {"irc": section},
        }

    def start_kernel(self, **irc):
        k = Kernel(self.config(**irc), env={"OPENCLAWOS_SHIPPED_PACKAGES": os.environ["OPENCLAW_PACKAGES"]})
        self.addCleanup(k.cleanup)
        k.start()
        k.wait_state(APP, "ready", timeout=15)
        return k

    def user(self, nick, **kw):
        u = IrcUser(self.ircd.port, nick, **kw)
        self.addCleanup(u.close)
        return u

    def wait_bot_in_channel(self, user, channel="#test", nick=BOT, timeout=15):
        """Until `nick` is a member of `channel` (asked with NAMES, as a human would)."""
        def present():
            start = len(user.lines)
            user.send(f"NAMES {channel}")
            end = user.wait_line(lambda m: m.command == "366", 5, start)
            names = [m for m in user.lines[start:] if m.command == "353"]
            members = {n.lstrip("~&@%+").lower() for m in names for n in m.text.split()}
            return nick.lower() in members and end
        return wait_for(present, timeout, 0.3, f"{nick} to be in {channel}")

    def chat_texts(self):
        return [r["body"]["messages"][-1]["content"] for r in self.llm.requests()]


class IrcChannelTest(IrcTestBase):
    def test_direct_message_channel_mention_and_ignored_chatter(self):
        k = self.start_kernel()
        alice = self.user("alice")
        alice.join("#test")
        self.wait_bot_in_channel(alice)
        # a direct message always reaches the agent; the reply comes back as a PRIVMSG to alice
        alice.privmsg(BOT, "hello there")
        reply = alice.wait_privmsg(BOT, target="alice")[0]
        self.assertEqual(reply.text, "echo: hello there")
        # channel chatter that does not address the bot is ignored: no model request at all
        alice.privmsg("#test", "just chatting about lunch")
        alice.privmsg("#test", "openclawish is not the bot's name")
        # addressed: answered in the channel, with the address stripped
        alice.privmsg("#test", f"{BOT}: what is up?")
        reply = alice.wait_privmsg(BOT, target="#test")[0]
        self.assertEqual(reply.text, "echo: what is up?")
        # mentioned mid-sentence also counts
        alice.privmsg("#test", f"I wonder what {BOT} thinks")
        replies = alice.wait_privmsg(BOT, target="#test", count=2)
        self.assertEqual(replies[1].text, f"echo: I wonder what {BOT} thinks")
        self.assertEqual(self.chat_texts(), ["hello there", "what is up?", f"I wonder what {BOT} thinks"])
        # the sessions: the DM is alice's, the channel its own group session
        keys = {s["key"] for s in k.control().call("sessions.list")["sessions"]}
        self.assertIn("agent:default:group:irc:#test", keys)
        self.assertEqual(len(keys), 2, keys)

    def test_stranger_gets_one_refusal_and_no_agent_run(self):
        k = self.start_kernel()
        mallory = self.user("mallory")
        mallory.privmsg(BOT, "let me in")
        notice = mallory.wait_privmsg(BOT, command="NOTICE")[0]
        self.assertIn("does not know you yet", notice.text)
        self.assertIn("mallory", notice.text)
        self.assertIn("channels.irc.allowFrom", notice.text)
        mallory.privmsg(BOT, "please?")
        # an allowed sender's message afterwards proves the app has processed mallory's second one
        carol = self.user("carol")  # allowed by the mask carol!*@127.0.0.1
        carol.privmsg(BOT, "I am carol")
        self.assertEqual(carol.wait_privmsg(BOT)[0].text, "echo: I am carol")
        time.sleep(0.3)
        self.assertEqual(len(mallory.privmsgs(BOT, command="NOTICE")), 1)
        self.assertEqual(mallory.privmsgs(BOT), [])
        self.assertEqual(self.chat_texts(), ["I am carol"])
        logs = "\n".join(k.app_log(APP))
        self.assertIn("refused a direct message from mallory!", logs)

    def test_long_reply_is_split_in_order_with_nothing_lost(self):
        words = [f"word{i:04d}" for i in range(260)]
        long_text = " ".join(words) + "\nand a last line"
        self.llm.script({"match": "essay", "content": long_text})
        self.start_kernel()
        alice = self.user("alice")
        alice.privmsg(BOT, "write an essay")
        # 260 * 9 bytes ≈ 2.3 kB: at least five lines of at most ~450 bytes, then the last line
        pieces = wait_for(lambda: (lambda got: got if got and got[-1].text == "and a last line" else None)(
            alice.privmsgs(BOT)), 30, 0.1, "the whole reply")
        self.assertGreaterEqual(len(pieces), 6)
        for p in pieces:
            self.assertLessEqual(len(f":{BOT}!~{BOT}@127.0.0.1 PRIVMSG alice :{p.text}\r\n".encode()), 512)
        self.assertEqual(" ".join(p.text for p in pieces[:-1]).split(), words)

    def test_nick_collision_takes_the_next_nick(self):
        squatter = self.user(BOT)  # somebody already holds the nick
        self.start_kernel()
        alice = self.user("alice")
        alice.join("#test")
        self.wait_bot_in_channel(alice, nick=BOT + "_")
        alice.privmsg(BOT + "_", "are you there?")
        self.assertEqual(alice.wait_privmsg(BOT + "_")[0].text, "echo: are you there?")
        self.assertEqual(squatter.privmsgs(), [])


class IrcSaslTest(IrcTestBase):
    def test_sasl_password_reaches_the_app_and_a_server_without_sasl_is_refused_clearly(self):
        # ngIRCd offers no SASL: the app must say so instead of registering without it. That it gets
        # this far also shows the x-env secret arrived (an empty password stops it in Setup).
        k = self.start_kernel(sasl={"user": "acct", "password": "s3cret-pw"})
        wait_for(lambda: any("SASL is configured but the server does not offer it" in line
                             for line in k.app_log(APP)), 15, 0.2, "the SASL refusal in the app log")
        logs = "\n".join(k.app_log(APP))
        self.assertNotIn("s3cret-pw", logs)
        self.assertNotIn("registered on", logs)
        self.assertEqual(k.status_of(APP)["state"], "ready")  # it keeps retrying with backoff


class IrcReconnectTest(IrcTestBase):
    def test_server_restart_reconnects_rejoins_and_delivers_the_outbox(self):
        k = self.start_kernel()
        alice = self.user("alice")
        alice.join("#test")
        self.wait_bot_in_channel(alice)
        alice.privmsg(BOT, "first")
        self.assertEqual(alice.wait_privmsg(BOT)[0].text, "echo: first")
        # a slow answer: the server dies while the model is still writing it
        self.llm.script({"match": "slow", "delayMs": 2500, "content": "the late answer"})
        alice.privmsg(BOT, "slow question")
        wait_for(lambda: "slow question" in self.chat_texts(), 10, 0.05, "the model request")
        self.ircd.kill()
        time.sleep(3.0)  # the reply is produced now, while IRC is down: it waits in the outbox
        entries = k.control().call("outbox.list")["entries"]
        pending = [e for e in entries if e["status"] != "delivered"]
        self.assertTrue(pending, entries)
        self.ircd.start()
        alice = self.user("alice")
        # the app reconnects by itself, the outbox entry reaches alice, the channel is rejoined
        late = alice.wait_privmsg(BOT, timeout=40)[0]
        self.assertEqual(late.text, "the late answer")
        alice.join("#test")
        self.wait_bot_in_channel(alice, timeout=20)
        alice.privmsg(BOT, "after the restart")
        replies = alice.wait_privmsg(BOT, count=2, timeout=20)
        self.assertEqual(replies[1].text, "echo: after the restart")
        alice.privmsg("#test", f"{BOT}, still in the channel?")
        self.assertEqual(alice.wait_privmsg(BOT, target="#test")[0].text, "echo: still in the channel?")
        wait_for(lambda: all(e["status"] == "delivered" for e in k.control().call("outbox.list")["entries"]),
                 10, 0.1, "every outbox entry delivered")


if __name__ == "__main__":
    unittest.main()
