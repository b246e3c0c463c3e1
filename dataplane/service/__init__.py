"""The control-plane service: registry, gRPC servicers, metrics, config."""
