"""The text-to-motion model: one interface, the DiT, the sampler and what feeds them (torch lives here).

- `generation`: `MotionModel`, the interface every backend implements, and its request/step types;
- `errors`: `GenerationError` and `Cancelled` (re-exported by `generation`);
- `dit`: the HY-Motion MMDiT network; `sampler`: the flow-matching Euler sampler (no text, no I/O);
- `pipeline`: `DiTMotionModel`, text → sampler → decoded `Motion`s, batching and long-clip windows;
- `windows`: the initial noise per seed and moving features into and out of a window's own frame;
- `directing`: constraints (start, keys, path, end, timeline) and the sampling that serves them;
- `live`: live mode's chunks: an endless motion continued from its own last frames, steered into an area;
- `configs`: network and sampling configs (full, Lite, the embedded model's, tests');
- `representation`: the 201-d feature layout and its normaliser (torch);
- `tensor_rotations`: the rotation functions the network needs on tensors (twin of `engine.core.rotations`);
- `text_encoders`, `text_minilm`: HY-Motion's Qwen3 + CLIP encoders, the embedded MiniLM one, a hash one;
- `device`, `threads`: device/precision choice and the one thread that owns a torch model;
- `testing`: small real models with random weights for tests elsewhere.
"""
