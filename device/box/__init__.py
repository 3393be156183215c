"""The running box's services: the parts `CutboxService` wires together.

`camera` (the frame source, re-opened when it fails), `parts` (the pipeline and the turntable
built from the config), `settings` (the config, presets and live reload), `publishing` (the
MQTT publisher), `events` (errors, counters, listeners), `watchdog` (heartbeat and the systemd
watchdog thread) and `status` (what the page's banners and /health/ready read).
"""
