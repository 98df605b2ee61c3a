"""The Telegram channel app (@openclawos/telegram) end to end: the real gateway ships it, it long-polls
a local Bot API server (telegram_fixture.FakeBotApi, strict about shapes, MarkdownV2 and the 4096
limit), the agent answers through the test LLM server, and the replies come back with sendMessage."""
import os
import signal
import time
import unittest

from harness import Kernel, KernelTest, fast_supervisor, pid_alive, wait_for
from llm_server import LlmServer
from telegram_fixture import FakeBotApi, parse_markdown_v2, utf16_len

APP = "@openclawos/telegram"
OWNER, FRIEND, STRANGER = 4242, 4343, 9999
GROUP = -1001234567


def no_space(s):
    return "".join(s.split())


class TelegramTest(KernelTest):
    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)
        self.api = FakeBotApi().start()
        self.addCleanup(self.api.stop)

    def start(self, **section):
        telegram = {"enabled": True, "botToken": self.api.token, "apiBaseUrl": self.api.base_url,
                    "allowFrom": [str(OWNER), str(FRIEND)], "pollTimeoutSec": 2}
        telegram.update(section)
        cfg = {
            "models": {"providers": {"test": {"api": "openai-completions", "baseUrl": self.llm.base_url,
                                              "apiKey": "sk-test"}},
                       "requestTimeoutMs": 5000, "retryBaseDelayMs": 20, "maxRetries": 2},
            "agents": {"default": {"model": "test/gpt-test", "systemPrompt": "You are the test agent."}},
            "apps": {"supervisor": fast_supervisor(maxRestarts=20)},
            "channels": {"telegram": telegram},
        }
        k = Kernel(cfg, env={"OPENCLAWOS_SHIPPED_PACKAGES": os.environ["OPENCLAW_PACKAGES"]})
        self.addCleanup(k.cleanup)
        k.start()
        k.wait_state(APP, "ready", 15)
        wait_for(lambda: self.api.calls("getUpdates"), 10, what="the app to poll")
        return k

    def user_texts(self):
        """The last user message of every chat request the LLM server got."""
        out = []
        for r in self.llm.requests():
            users = [m for m in r["messages"] if m["role"] == "user"]
            if users:
                out.append(users[-1]["content"])
        return out

    def offset_file(self, k):
        return os.path.join(k.home, "apps", APP.replace("/", "_"), "offset")

    def read_offset(self, k):
        try:
            with open(self.offset_file(k)) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def app_pid(self, k):
        return k.status_of(APP).get("pid")


class PrivateChatTest(TelegramTest):
    def test_private_chat_gets_a_reply_with_typing_first(self):
        k = self.start()
        uid = self.api.private_message(OWNER, "hello there", username="owner")
        sent = self.api.wait_sent(1, OWNER)
        self.assertEqual(sent[0]["text"], "echo: hello there")
        self.assertEqual(sent[0]["parse_mode"], "MarkdownV2")
        self.assertEqual(sent[0]["raw"], "echo: hello there")
        # the typing indicator went out before the reply
        actions = self.api.chat_actions(OWNER)
        self.assertTrue(actions, "no sendChatAction")
        self.assertEqual(actions[0]["action"], "typing")
        self.assertLess(actions[0]["time"], sent[0]["time"])
        # wire shapes the app used: getMe first, getUpdates long polling for messages only
        methods = [c["method"] for c in self.api.calls()]
        self.assertEqual(methods[0], "getMe")
        poll = self.api.calls("getUpdates")[-1]["params"]
        self.assertEqual(poll["allowed_updates"], ["message"])
        self.assertEqual(poll["timeout"], 2)
        # the update is confirmed in the offset file, and the kernel stored the conversation
        wait_for(lambda: self.read_offset(k) == uid + 1, 5, what="the offset file")
        sessions = k.control().call("sessions.list", {"all": True})["sessions"]
        history = k.control().call("sessions.history", {"key": sessions[0]["key"]})["messages"]
        self.assertEqual([(m["role"], m["content"]) for m in history],
                         [("user", "hello there"), ("assistant", "echo: hello there")])
        self.assertEqual(history[0]["address"], f"telegram:{OWNER}")
        # the token never reaches the log
        log = "\n".join(k.app_log(APP))
        self.assertIn("connected as @PiBot", log)
        self.assertNotIn(self.api.token, log)
        self.assertNotIn(self.api.token, k.output())

    def test_stranger_is_refused_once_and_never_reaches_the_agent(self):
        k = self.start()
        self.api.private_message(STRANGER, "let me in")
        last = self.api.private_message(STRANGER, "please?")
        wait_for(lambda: self.read_offset(k) == last + 1, 10, what="both updates to be handled")
        refusals = self.api.sent_messages(STRANGER)
        self.assertEqual(len(refusals), 1, refusals)
        self.assertIn(str(STRANGER), refusals[0]["text"])
        self.assertIn("channels.telegram.allowFrom", refusals[0]["text"])
        self.assertEqual(self.llm.stats()["requests"], 0)
        self.assertEqual(k.control().call("sessions.list", {"all": True})["sessions"], [])
        self.assertTrue(any(str(STRANGER) in line and "allowFrom" in line for line in k.app_log(APP)))


class GroupTest(TelegramTest):
    def test_group_needs_a_mention_or_a_reply_to_the_bot(self):
        k = self.start()
        self.api.group_message(GROUP, FRIEND, "just chatting among ourselves")
        self.api.group_message(GROUP, STRANGER, "@PiBot I am not allowed", mention=True)
        self.api.group_message(GROUP, FRIEND, "@PiBot what is up?", mention=True)
        sent = self.api.wait_sent(1, GROUP)
        self.assertEqual(sent[0]["text"], "echo: what is up?")
        self.api.group_message(GROUP, OWNER, "and tomorrow?", reply_to_bot=True)
        sent = self.api.wait_sent(2, GROUP)
        self.assertEqual(sent[1]["text"], "echo: and tomorrow?")
        self.assertEqual(self.user_texts(), ["what is up?", "and tomorrow?"])
        self.assertEqual(len(self.api.sent_messages()), 2)  # nothing to the stranger either
        group = [s for s in k.control().call("sessions.list", {"all": True})["sessions"]]
        self.assertEqual(len(group), 1)

    def test_without_require_mention_every_allowed_message_is_answered(self):
        self.start(requireMention=False)
        self.api.group_message(GROUP, FRIEND, "anyone there?")
        self.assertEqual(self.api.wait_sent(1, GROUP)[0]["text"], "echo: anyone there?")


class FormattingTest(TelegramTest):
    def test_long_reply_is_split_in_order_and_escaped_for_the_strict_server(self):
        k = self.start()
        paragraphs = [f"Item {i}.5 (see #{i}) - a+b=c! {{x}} [y] ~z~ |w| > q; snake_case_name; 2 * 3 = 6."
                      for i in range(120)]
        code = "\n".join(f"let v{i} = `tick` \\ {i};" for i in range(400))
        reply = "# Report\n\n**Summary**: all good.\n\n" + "\n\n".join(paragraphs) + "\n\n```rust\n" + code + "\n```\nEnd."
        self.llm.script({"content": reply, "chunkChars": 2000})
        self.api.private_message(OWNER, "give me the report")
        wait_for(lambda: self.api.sent_messages(OWNER) and self.api.sent_messages(OWNER)[-1]["text"].endswith("End."),
                 20, what="the last piece")
        sent = self.api.sent_messages(OWNER)
        self.assertGreaterEqual(len(sent), 3)
        for piece in sent:
            self.assertEqual(piece["parse_mode"], "MarkdownV2")  # no plain-text fallback was needed
            self.assertLessEqual(utf16_len(piece["text"]), 4096)
        refused = [c for c in self.api.calls("sendMessage") if c["status"] != 200]
        self.assertEqual(refused, [])
        expected = "Report\n\nSummary: all good.\n\n" + "\n\n".join(paragraphs) + "\n\n" + code + "\nEnd."
        self.assertEqual(no_space("".join(p["text"] for p in sent)), no_space(expected))
        self.assertTrue(any(e["type"] == "bold" for e in sent[0]["entities"]))
        pre = [e for p in sent for e in p["entities"] if e["type"] == "pre"]
        self.assertGreaterEqual(len(pre), 2)  # the code block was cut, closed and reopened
        self.assertTrue(all(e.get("language") == "rust" for e in pre))
        # the platform id of the last piece is what the outbox recorded
        entries = wait_for(lambda: [e for e in k.control().call("outbox.list")["entries"] if e["status"] == "delivered"],
                           10, what="the delivery to be acknowledged")
        self.assertEqual(entries[0]["platformMessageId"], str(sent[-1]["message_id"]))

    def test_unparsable_markdown_is_resent_as_plain_text(self):
        self.start()
        self.api.fail_next("sendMessage", 400, "Bad Request: can't parse entities: Can't find end of Bold entity "
                                               "at byte offset 0")
        self.api.private_message(OWNER, "hi")
        sent = self.api.wait_sent(1, OWNER)
        self.assertEqual(sent[0]["text"], "echo: hi")
        self.assertIsNone(sent[0]["parse_mode"])

    def test_parse_mode_none_sends_the_text_as_is(self):
        self.start(parseMode="none")
        self.llm.script({"content": "**raw** 1.5"})
        self.api.private_message(OWNER, "x")
        sent = self.api.wait_sent(1, OWNER)
        self.assertEqual(sent[0]["text"], "**raw** 1.5")
        self.assertIsNone(sent[0]["parse_mode"])


class RateLimitTest(TelegramTest):
    def test_429_on_send_message_is_waited_out_and_delivered_once(self):
        k = self.start()
        self.api.fail_next("sendMessage", 429, retry_after=2)
        self.api.private_message(OWNER, "hello")
        sent = self.api.wait_sent(1, OWNER, timeout=20)
        calls = self.api.calls("sendMessage")
        self.assertEqual([c["status"] for c in calls], [429, 200])
        self.assertGreaterEqual(calls[1]["time"] - calls[0]["time"], 1.9)
        time.sleep(1)
        self.assertEqual(len(self.api.sent_messages(OWNER)), 1)
        self.assertEqual(sent[0]["text"], "echo: hello")
        self.assertTrue(any("rate limited" in line for line in k.app_log(APP)))

    def test_429_on_get_updates_is_honoured(self):
        self.start()
        self.api.fail_next("getUpdates", 429, retry_after=1)
        self.api.private_message(OWNER, "later")
        self.assertEqual(self.api.wait_sent(1, OWNER)[0]["text"], "echo: later")
        polls = self.api.calls("getUpdates")
        limited = [i for i, c in enumerate(polls) if c["status"] == 429]
        if limited:  # the next poll came only after retry_after
            i = limited[0]
            self.assertGreaterEqual(polls[i + 1]["time"] - polls[i]["time"], 0.9)

    def test_rejected_token_is_reported_clearly(self):
        k = self.start()
        self.api.fail_next("getUpdates", 401, "Unauthorized", count=2)
        self.api.fail_next("getMe", 401, "Unauthorized", count=1)
        wait_for(lambda: any("botToken rejected by Telegram" in line for line in k.app_log(APP)), 10,
                 what="the token error in the app's log")
        self.api.private_message(OWNER, "back")
        self.assertEqual(self.api.wait_sent(1, OWNER, timeout=20)[0]["text"], "echo: back")


class OffsetTest(TelegramTest):
    def history_user_texts(self, k):
        texts = []
        for s in k.control().call("sessions.list", {"all": True})["sessions"]:
            texts += [m["content"] for m in k.control().call("sessions.history", {"key": s["key"]})["messages"]
                      if m["role"] == "user"]
        return texts

    def test_sigkill_mid_stream_then_restart_processes_every_update_once(self):
        k = self.start()
        self.llm.script(*[{"match": f"msg {i}", "content": f"answer {i}", "delayMs": 50} for i in range(12)])
        first = [self.api.private_message(OWNER, f"msg {i}") for i in range(8)]
        wait_for(lambda: self.read_offset(k) and self.read_offset(k) > first[0], 10, what="processing to start")
        pid = self.app_pid(k)
        os.kill(pid, signal.SIGKILL)
        for i in range(8, 12):
            self.api.private_message(OWNER, f"msg {i}")
        wait_for(lambda: self.app_pid(k) not in (None, pid) and k.status_of(APP).get("state") == "ready", 15,
                 what="the app to be restarted")
        self.api.wait_sent(12, OWNER, timeout=30)
        time.sleep(1.5)  # anything processed twice would show up now
        # Every update ran exactly once. Deliveries are at least once across an app restart (SDK
        # contract): only a reply that was being sent at the moment of the kill may appear twice.
        texts = [s["text"] for s in self.api.sent_messages(OWNER)]
        self.assertEqual(set(texts), {f"answer {i}" for i in range(12)})
        self.assertLessEqual(len(texts), 13, texts)
        self.assertEqual(sorted(self.user_texts()), sorted(f"msg {i}" for i in range(12)))
        self.assertEqual(sorted(self.history_user_texts(k)), sorted(f"msg {i}" for i in range(12)))
        self.assertEqual(self.read_offset(k), self.api.next_update_id + 1)

    def test_updates_read_again_after_a_crash_before_the_offset_was_saved_run_once(self):
        k = self.start()
        # The app's getUpdates that would confirm the batch will hang.
        self.api.hold_polls(self.api.next_update_id + 4)
        batch = [self.api.private_message(OWNER, f"again {i}") for i in range(4)]
        self.api.wait_sent(4, OWNER)
        wait_for(lambda: self.api.held_offsets() == [batch[-1] + 1], 10, what="the confirming poll")
        wait_for(lambda: len([e for e in k.control().call("outbox.list")["entries"] if e["status"] == "delivered"]) == 4,
                 10, what="the replies to be acknowledged")
        # As if the app had died after queueing the batch but before recording it: the file still
        # holds the offset that fetched the batch, and Telegram still has the updates.
        with open(self.offset_file(k), "w") as f:
            f.write(f"{batch[0]}\n")
        pid = self.app_pid(k)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), 5, what="the app to die")
        self.api.hold_polls(None)
        wait_for(lambda: any(c["params"].get("offset") == batch[0] and c["status"] == 200
                             for c in self.api.calls("getUpdates")), 15, what="the batch to be read again")
        wait_for(lambda: self.read_offset(k) == batch[-1] + 1, 10, what="the batch to be confirmed again")
        self.api.private_message(OWNER, "again 4")
        self.api.wait_sent(5, OWNER)
        time.sleep(1)
        self.assertEqual(sorted(s["text"] for s in self.api.sent_messages(OWNER)),
                         [f"echo: again {i}" for i in range(5)])
        self.assertEqual(sorted(self.user_texts()), [f"again {i}" for i in range(5)])
        self.assertEqual(sorted(self.history_user_texts(k)), [f"again {i}" for i in range(5)])


if __name__ == "__main__":
    unittest.main()
