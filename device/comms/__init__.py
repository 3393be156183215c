"""Publishing to the catalog: durable outbox, MQTT v5 publisher, command dispatcher."""
