# The CFG passes of cfg.build, native: see cfgscan.pyx (no C-level API; the
# declaration file keeps the one-.pxd-per-module rule).
