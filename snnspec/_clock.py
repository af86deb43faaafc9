"""When the package began to import: ``snnspec run`` counts its start-up time from here.

Imported first by the package, so the time covers every import of snnspec and its dependencies.
"""

import time

STARTED = time.perf_counter()
