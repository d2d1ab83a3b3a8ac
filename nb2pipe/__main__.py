import sys

from nb2pipe.cli import main

sys.exit(main())
