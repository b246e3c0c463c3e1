"""dataplane: a userspace eBPF packet-processing dataplane.

Layers point down only (see README, "Architecture"):
``isa``/``abi`` at the bottom; ``loader``, ``verifier``, ``runtime``, ``maps``
above them; ``hooks``, ``conntrack``, ``io``, ``filter`` above that; ``service``
and ``cli`` on top.
"""

__version__ = "0.1.0"
