"""An SMTP server that accepts everything (aiosmtpd), for ``python -m benchmarks.send``:
``python -m benchmarks.smtp_sink PORT [DELAY_SECONDS]``. Prints ``ready``, then on
SIGTERM the number of messages it accepted. It binds with SO_REUSEPORT, so several sink
processes can share one port (the kernel spreads connections over them): aiosmtpd reads
a message line by line in Python, and one process would be the bottleneck of the run."""

from __future__ import annotations

import asyncio
import signal
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, delay: float):
        self.delay, self.count = delay, 0

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.count += len(envelope.rcpt_tos)
        return "250 OK"


async def serve(port: int, sink: Sink) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, decode_data=False), host="127.0.0.1", port=port,
                                      reuse_port=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    port, delay = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    sink = Sink(delay)
    asyncio.run(serve(port, sink))
    print(sink.count, flush=True)


if __name__ == "__main__":
    main()
