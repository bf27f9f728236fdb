"""Delivery of the sealed audit log to sinks (NATS JetStream, HTTP webhooks): at least once, in order,
nothing lost (docs/design/audit.md, "Delivery (built)").

Import the modules themselves (``hpcpolicy.delivery.worker``, ``.jetstream``, ``.webhook``, ``.setup``): this
package is imported by the settings for its URL types, and nats-py is an optional extra.
"""
