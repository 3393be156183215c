"""The catalog side: receive captures over MQTT into files plus an SQLite index."""
