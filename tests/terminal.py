"""Reading what a child process wrote to a pseudo-terminal, as a user's shell would see it."""

from __future__ import annotations

import os


def read_until_closed(controller: int) -> bytes:
    """Everything written to the terminal whose controller side is `controller`, until the child closes it; the
    controller is closed after. Call it after closing the parent's copy of the terminal side."""
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO once the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks)
