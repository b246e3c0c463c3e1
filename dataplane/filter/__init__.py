"""iptables rulesets -> verified BPF programs (bpfilter).

Pipeline, one module per stage: ``lexer``/``parser`` (iptables-save text ->
``rules`` IR, ``ipset`` sets, ``check``), ``group`` (rules -> lookup groups
and scans), ``chaincode`` (-> BPF bytecode via the isa encoder), ``program``
(-> an ObjectSpec: program ``iptables_filter`` + maps), ``elf`` (-> .o for
the kernel's loaders), ``save``/``listing`` (counters -> iptables text).
"""
