"""MotionBridge daemon: wire protocol, WebSocket server, scheduler, store, MQTT link, client and CLI."""
