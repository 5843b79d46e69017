"""``python deploy/healthcheck.py URL``: exit 0 when URL answers 2xx within 5 s, else 1.

Compose's health checks run inside the container, and the slim image has neither curl nor wget;
this needs the standard library only. It prints the status or the error's class, never a body.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 5


def check(url: str) -> int:
    """0 for a 2xx answer, 1 for anything else (an error status, a refusal, a timeout)."""
    if not url.startswith("http://127.0.0.1:"):
        print("healthcheck: only http://127.0.0.1:<port>/… is checked", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        print(f"healthcheck: {type(error).__name__}", file=sys.stderr)
        return 1
    print(f"healthcheck: {status}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    raise SystemExit(check(sys.argv[1]) if len(sys.argv) == 2 else 2)
