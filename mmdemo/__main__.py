import sys

from mmdemo.cli import main

sys.exit(main())
