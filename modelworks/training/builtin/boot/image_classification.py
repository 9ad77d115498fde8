"""Boot file of a built-in algorithm: ``modelworks.training.builtin.image_classification``."""

import sys

from modelworks.training.builtin.image_classification import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
