"""MQTT (optional, extra `[mqtt]`): events for dashboards and GPU workers behind gateways (docs/scaling.md).

- `schema`: broker URLs, topics and the validated payloads;
- `link`: one node's reconnecting connection to the broker;
- `events`: node status, load and the job events of `serve --mqtt`;
- `gateway`: `serve --workers`, a daemon whose jobs run on workers;
- `worker`: `motionbridge worker`, a GPU box serving jobs from the broker.
"""
