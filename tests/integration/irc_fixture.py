"""IRC test fixtures: a real ngIRCd on a loopback port and a minimal IRC client that plays the human.

    with NgIrcd() as server:                    # or server = NgIrcd(); server.start(); ...; server.stop()
        alice = IrcUser(server.port, "alice")    # registered once the constructor returns
        alice.join("#test")
        alice.privmsg("openclaw", "hello")
        line = alice.wait_privmsg(lambda m: m.nick == "openclaw")
        server.kill(); server.start()            # the same port again

ngIRCd runs in the foreground (-n) with a generated config: no PAM, no ident, no DNS lookups, no
PID file, nick length 30. Started as root it drops to "nobody" by itself (ServerUID must not be
root); the config is read before that, so a private temp directory is fine.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import free_port

NGIRCD = shutil.which("ngircd") or "/usr/sbin/ngircd"



class NgIrcd:
    def __init__(self, port=None, channels=("#test",), name="irc.test"):
        self.port = port or free_port()
        self.channels = channels
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="oc-ngircd-")
        self.proc = None
        self.log = None

    def config(self):
        lines = ["[Global]", f"Name = {self.name}", "Info = OpenClawOS test server",
                 "AdminInfo1 = test", "AdminInfo2 = test", "AdminEMail = test@example.invalid",
                 "Listen = 127.0.0.1", f"Ports = {self.port}", "MotdPhrase = OpenClawOS test",
                 "[Limits]", "MaxNickLength = 30", "PingTimeout = 120", "PongTimeout = 20",
                 "MaxConnectionsIP = 0",
                 "[Options]", "PAM = no", "Ident = no", "DNS = no", "AllowRemoteOper = no"]
        for c in self.channels:
            lines += ["[Channel]", f"Name = {c}", "Topic = OpenClawOS test channel"]
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0):
        path = os.path.join(self.dir, "ngircd.conf")
        with open(path, "w") as f:
            f.write(self.config())
        if self.log:
            self.log.close()
        self.log = open(os.path.join(self.dir, "ngircd.log"), "ab")
        self.proc = subprocess.Popen([NGIRCD, "-n", "-f", path], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ngircd exited with {self.proc.returncode}:\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"ngircd did not listen on {self.port}:\n{self.output()}")

    def output(self):
        try:
            with open(os.path.join(self.dir, "ngircd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kill(self):
        """SIGKILL: every connection drops at once, as when the server host dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self):
        self.stop()
        if self.log:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


class IrcLine:
    """One parsed line: prefix nick, command, params (trailing included)."""

    def __init__(self, raw):
        self.raw = raw
        rest = raw
        if rest.startswith("@"):
            _, _, rest = rest.partition(" ")
        self.prefix = ""
        if rest.startswith(":"):
            self.prefix, _, rest = rest[1:].partition(" ")
        self.nick = self.prefix.split("!", 1)[0]
        head, sep, trailing = rest.partition(" :")
        words = head.split()
        self.command = words[0].upper() if words else ""
        self.params = words[1:] + ([trailing] if sep else [])

    @property
    def target(self):
        return self.params[0] if self.params else ""

    @property
    def text(self):
        return self.params[-1] if self.params else ""

    def __repr__(self):
        return f"IrcLine({self.raw!r})"


class IrcUser:
    """A human on IRC: registers, answers PING, records every line it receives (thread-safe)."""

    def __init__(self, port, nick, user=None, timeout=10.0):
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.send(f"NICK {nick}")
        self.send(f"USER {user or nick} 0 * :{nick} (test human)")
        welcome = self.wait_line(lambda m: m.command in ("001", "433"), timeout)
        if welcome.command == "433":
            raise RuntimeError(f"nick {nick} is taken")

    def send(self, line):
        self.sock.sendall((line + "\r\n").encode())

    def privmsg(self, target, text):
        self.send(f"PRIVMSG {target} :{text}")

    def join(self, channel, timeout=10.0):
        self.send(f"JOIN {channel}")
        self.wait_line(lambda m: m.command == "366" and m.params[1].lower() == channel.lower(), timeout)

    def _read(self):
        buf = b""
        self.sock.settimeout(None)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = IrcLine(raw.rstrip(b"\r").decode("utf-8", "replace"))
                if line.command == "PING":
                    try:
                        self.send("PONG :" + line.text)
                    except OSError:
                        pass
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()

    def wait_line(self, predicate, timeout=10.0, start=0):
        """The first received line (from index `start`) matching `predicate`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.nick}: no matching line within {timeout}s; got {self.lines[-15:]}")
                self.cond.wait(min(left, 0.1))

    def privmsgs(self, sender=None, target=None, command="PRIVMSG"):
        with self.cond:
            return [m for m in self.lines if m.command == command
                    and (sender is None or m.nick.lower() == sender.lower())
                    and (target is None or m.target.lower() == target.lower())]

    def wait_privmsg(self, sender, target=None, count=1, timeout=15.0, command="PRIVMSG"):
        """Waits until at least `count` PRIVMSGs (or NOTICEs) from `sender` (to `target`) arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.privmsgs(sender, target, command)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.nick}: {len(got)}/{count} {command}s from {sender} within {timeout}s; "
                                     f"last lines {self.lines[-15:]}")
            with self.cond:
                self.cond.wait(0.1)

    def close(self):
        try:
            self.send("QUIT :bye")
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
