import sys

from tfbin.cli import main

sys.exit(main())
