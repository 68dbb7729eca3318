"""moto_server whose clock is real time plus an offset that a test moves.

moto cannot backdate a key's CreateDate or LastUsedDate, so tests that travel in time
(--now weeks ahead) run their own moto through this launcher: every timestamp moto takes
is the real time plus the number of seconds in the file named by MOTO_CLOCK_FILE.
Arguments are moto_server's own (-H 127.0.0.1 -p PORT).
"""
import datetime
import os
import sys

from moto.core import utils as core_utils
import moto.iam.models as iam_models
from moto.server import main

CLOCK_FILE = os.environ["MOTO_CLOCK_FILE"]
_real_utcnow = core_utils.utcnow


def shifted_utcnow():
    try:
        with open(CLOCK_FILE, encoding="ascii") as f:
            offset = float(f.read().strip() or "0")
    except (FileNotFoundError, ValueError):
        offset = 0.0
    return _real_utcnow() + datetime.timedelta(seconds=offset)


core_utils.utcnow = shifted_utcnow
iam_models.utcnow = shifted_utcnow

if __name__ == "__main__":
    sys.exit(main())
