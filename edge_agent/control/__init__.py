"""Commands in, acks out: the signature/replay gate, the dispatcher that routes verified commands to
their handlers, and the store-and-forward ack/health reporter with its on-disk outbox."""
