"""A real SMTP server for tokengate's tests (aiosmtpd from PyPI).

Stores every message it accepts in a maildir, prints the port it listens on (loopback, a free
port) as its first line, and serves until killed. With --delay it waits that many seconds
after storing a message and before answering 250, so a sender killed meanwhile has delivered
a message it never saw accepted (the at-least-once case).
"""

import argparse
import asyncio

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP


class SlowMailbox(Mailbox):
    def __init__(self, mail_dir, delay):
        super().__init__(mail_dir)
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if self.delay:
            await asyncio.sleep(self.delay)
        return answer


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("maildir")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    handler = SlowMailbox(args.maildir, args.delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="mail.test"), "127.0.0.1", 0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
