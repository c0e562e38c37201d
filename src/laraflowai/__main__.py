"""`python -m laraflowai` is the `laraflowai` command."""

import sys

from .cli.main import main

sys.exit(main())
