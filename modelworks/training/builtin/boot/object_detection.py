"""Boot file of a built-in algorithm: ``modelworks.training.builtin.object_detection``."""

import sys

from modelworks.training.builtin.object_detection import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
