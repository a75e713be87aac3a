import sys

from landgui.cli import main

if __name__ == "__main__":  # guarded: the GUI's training process (spawn) imports this module
    sys.exit(main())
