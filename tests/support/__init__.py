"""What the tests share: compiling the corpus (progs), packet builders
(packets), chain programs and pcap helpers (hooks), a real service in a
subprocess (service), the differential harness (diff) and the verifier's
kernel oracle (verifier). Test files import from here; conftest.py's session
fixtures (objs, build_c) sit on top of progs."""
