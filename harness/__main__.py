"""``python -m harness``: the ``harness`` command."""
import sys

from harness.launch import main

sys.exit(main())
