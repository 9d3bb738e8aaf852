import sys

from agpt.cli import main

sys.exit(main())
