"""The daemon's own `motionbridge` commands, one module each (`configure_parser(parser)`, `run(args) -> int`):
`serve`, `generate`, `status`. `bridge.cli` only parses and dispatches."""
