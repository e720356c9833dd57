import sys

from fairtrail.cli import main

sys.exit(main())
