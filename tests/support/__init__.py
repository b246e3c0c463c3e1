"""What the tests share: compiling the corpus (progs), packet builders
(packets), chain programs and pcap helpers (hooks), a real service in a
subprocess (service), the differential harness (diff), the verifier's
kernel oracle (verifier) and the load balancer's configuration (lb). Test
files import from here; conftest.py's session fixtures (objs, build_c) sit
on top of progs."""
