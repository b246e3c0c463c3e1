"""JIT: BPF -> C -> native shared object (cached), run through struct dp_env.

``JitProgram`` (engine.pyx) is the entry point; codegen.py writes the C,
compiler.py compiles and caches it.
"""
