import sys

from gpusafe.cli import main

sys.exit(main())
