import sys

from landgui.cli import main

sys.exit(main())
