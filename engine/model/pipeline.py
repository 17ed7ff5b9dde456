"""`DiTMotionModel`: text → motion with an HY-Motion-style DiT, behind the shared `MotionModel` interface.

The serving path differs from upstream's only where the result cannot change:
- exact cropping: only the requested frames run (text RoPE positions stay at train_frames + i, noise is still
  drawn for train_frames frames per seed on a CPU generator and cropped), and text tokens are cut to the
  longest valid prompt in the batch. Valid frames and tokens never attend to padded ones, so the numbers are
  those of the padded 360-frame path (`exact_crop=False` runs that path, for comparison);
- CFG runs the unconditional and conditional rows in one batch; requests of mixed lengths share a batch
  through the motion mask; cancelled requests leave the batch between steps;
- the sampler state stays float32 whatever the network's dtype.

Clips longer than one training window are generated as overlapping windows: each new window starts where
the previous one's tail begins (moved back to the origin, facing +Z, as training clips are), the known tail
frames are replaced by their correctly noised values before every step, and the overlap is cross-faded.

Long module: text encoding, batched sampling with classifier-free guidance, previews, cancellation and long-clip
windows share one batch's state; splitting them would pass that state between files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.core.motion import Motion, frames_for_seconds
from engine.core.skeleton import BODY_JOINTS
from engine.model.configs import ModelConfig
from engine.model.generation import (
    CancelCheck,
    Cancelled,
    GenerationError,
    GenerationRequest,
    MotionModel,
    StepCallback,
    StepEvent,
)
from engine.model.representation import FEATURE_DIM, Normalizer, decode_features
from engine.model.sampler import EulerFlowSampler, FlowState, flow_grid
from engine.model.text_encoders import CachedTextEncoder, TextEncoder, TextEncoderError, TextFeatures
from engine.model.windows import HOST, root_heading_frame, seed_noise, to_local, to_world
from engine.post import clip_ops
from engine.post import postprocess as post

LatentStepCallback = Callable[[FlowState], None]

"""Where float64 work (decoding, long-clip heading transforms) runs: MPS has no float64 at all, and on a GPU
these few hundred numbers are not worth a kernel launch each."""


@dataclass
class _Row:
    request: int
    sample: int
    seed: int
    frames: int


class DiTMotionModel(MotionModel):
    """A warm text-to-motion model: DiT network, normaliser, learned null text features, text encoder."""

    def __init__(
        self,
        network: nn.Module,
        config: ModelConfig,
        normalizer: Normalizer,
        null_vtxt: Tensor,
        null_ctxt: Tensor,
        text_encoder: TextEncoder | None = None,
        *,
        name: str | None = None,
        device: torch.device | str = "cpu",
        max_seconds: float = 60.0,
        postprocess: post.PostProcess | None = None,
        overlap_frames: int = 60,
        text_cache_size: int = 512,
    ) -> None:
        self.config = config
        self.name = name or config.name
        self.fps = config.fps
        self.train_frames = config.train_frames
        self.default_steps = config.default_steps
        self.default_cfg = config.default_cfg
        self.max_seconds = max_seconds
        self.torch_device = torch.device(device)
        self.device = str(self.torch_device)
        self.network = network.to(self.torch_device).eval().requires_grad_(False)
        self.normalizer = normalizer.to(self.torch_device)
        self.null_vtxt = null_vtxt.detach().reshape(1, 1, -1).float().to(self.torch_device)
        self.null_ctxt = null_ctxt.detach().reshape(1, 1, -1).float().to(self.torch_device)
        self.text_encoder = (
            text_encoder
            if text_encoder is None or isinstance(text_encoder, CachedTextEncoder)
            else CachedTextEncoder(text_encoder, text_cache_size)
        )
        self.postprocess = postprocess or config.postprocess
        self.overlap_frames = overlap_frames
        self.exact_crop = True

    # ------------------------------------------------------------ basics

    @property
    def dtype(self) -> torch.dtype:
        param = next(self.network.parameters(), None)
        return param.dtype if param is not None else torch.float32

    @property
    def max_frames(self) -> int:
        return int(round(self.max_seconds * self.fps))

    def frames_for(self, seconds: float) -> int:
        return frames_for_seconds(seconds, self.max_frames, self.fps)

    @property
    def window_overlap(self) -> int:
        """Frames shared by consecutive long-clip windows (at most half a window, so windows always advance)."""
        return max(1, min(self.overlap_frames, self.train_frames // 2))

    def _noise(self, seeds: Sequence[int]) -> Tensor:
        # Upstream configs may ask for the generator on the GPU (`random_generator_on_gpu`); honour it there so
        # a seed gives upstream's numbers, and use the portable CPU generator everywhere else.
        on_gpu = self.config.meta.get("random_generator_on_gpu", False) and self.torch_device.type == "cuda"
        return seed_noise(seeds, self.train_frames, device=self.torch_device if on_gpu else "cpu")

    def encode_text(self, prompts: Sequence[str]) -> TextFeatures:
        """Prompts → text features (cached per prompt)."""
        if self.text_encoder is None:
            raise TextEncoderError(
                f"model {self.name!r} was loaded without a text encoder: load it with load_text_encoder=True, "
                "or pass precomputed features to sample_latent"
            )
        return self.text_encoder.encode(list(prompts))

    # ------------------------------------------------------------ the velocity field

    def _conditioning(self, cond: TextFeatures, rows: Tensor, frames: Sequence[int], cfg: float) -> dict:
        """Network inputs for rows `rows` of `cond`, CFG rows (unconditional first) included."""
        device = self.torch_device
        # Lengths are read on the CPU before anything moves: reading them back from a device would stall it.
        on_cpu = cond.select(rows.cpu())
        row_frames = [frames[i] for i in rows.tolist()]
        run_frames = max(row_frames) if self.exact_crop else self.train_frames
        text_len = max(1, int(on_cpu.ctxt_length.max())) if self.exact_crop else on_cpu.ctxt.shape[1]
        sel = on_cpu.to(device, torch.float32)
        lengths = torch.as_tensor(row_frames, device=device)
        ctxt = sel.ctxt[:, :text_len]
        vtxt = sel.vtxt
        # At least one valid token: a text query with no visible key would turn the whole row into NaN.
        text_mask = torch.arange(text_len, device=device)[None] < sel.ctxt_length.clamp_min(1)[:, None]
        motion_mask = torch.arange(run_frames, device=device)[None] < lengths[:, None]
        if cfg > 1.0:
            null_ctxt = self.null_ctxt.expand_as(ctxt) if self.config.enable_ctxt_null_feat else ctxt
            ctxt = torch.cat([null_ctxt, ctxt])
            vtxt = torch.cat([self.null_vtxt.expand_as(vtxt), vtxt])
            text_mask = torch.cat([text_mask, text_mask])
            motion_mask = torch.cat([motion_mask, motion_mask])
        inputs = {
            "ctxt_input": ctxt,
            "vtxt_input": vtxt,
            "x_mask_temporal": motion_mask,
            "ctxt_mask_temporal": text_mask,
            "text_position_offset": self.train_frames if self.exact_crop else None,
        }
        if hasattr(self.network, "layout"):
            # Masks and RoPE tables are the same at every step: build them once per batch.
            inputs["layout"] = self.network.layout(motion_mask, text_mask, inputs["text_position_offset"])
        return {**inputs, "run_frames": run_frames}

    def _velocity(self, inputs: dict, cfg: float) -> Callable[[Tensor, Tensor], Tensor]:
        network_inputs = {k: v for k, v in inputs.items() if k != "run_frames"}

        def velocity(t: Tensor, x: Tensor) -> Tensor:
            x_in = torch.cat([x, x]) if cfg > 1.0 else x
            out = self.network(x=x_in, timesteps=t.expand(x_in.shape[0]), **network_inputs).float()
            if cfg > 1.0:
                uncond, cond = out.chunk(2)
                return uncond + cfg * (cond - uncond)
            return out

        return velocity

    @torch.no_grad()
    def _integrate(
        self,
        cond: TextFeatures,
        frames: Sequence[int],
        noise: Tensor,
        steps: int,
        cfg: float,
        *,
        drop: Callable[[list[int]], set[int]] | None = None,
        after_step: Callable[[FlowState, list[int]], None] | None = None,
        constrain: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
        guide: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, list[int]]:
        """Euler-integrate rows 0..B-1; returns the final state of the surviving rows and their indices.

        `noise` (B, ≥ max frames, 201); `drop(live)` names rows to remove before a step; `constrain(t, x, live)`
        overwrites known frames; `guide(t, x, v, live)` corrects the velocity; `after_step(state, live)` sees
        each step.
        """
        live = torch.arange(cond.batch)
        inputs = self._conditioning(cond, live, frames, cfg)
        x0 = noise[:, : inputs["run_frames"]].to(self.torch_device, torch.float32)
        holder = {"live": live, "velocity": self._velocity(inputs, cfg)}

        def velocity(t: Tensor, x: Tensor) -> Tensor:
            return holder["velocity"](t, x)

        def constrained(t: Tensor, x: Tensor) -> Tensor:
            assert constrain is not None
            return constrain(t, x, holder["live"])

        def guided(t: Tensor, x: Tensor, v: Tensor) -> Tensor:
            assert guide is not None
            return guide(t, x, v, holder["live"])

        sampler = EulerFlowSampler(
            velocity,
            x0,
            flow_grid(steps, self.torch_device),
            constrained if constrain is not None else None,
            guided if guide is not None else None,
        )
        while sampler.step < sampler.steps:
            if drop is not None:
                gone = drop(holder["live"].tolist())
                if gone:
                    keep = torch.tensor([i not in gone for i in holder["live"].tolist()])
                    if not bool(keep.any()):
                        raise Cancelled("every request in the batch was cancelled")
                    sampler.prune(keep.to(sampler.x.device))
                    holder["live"] = holder["live"][keep]
                    inputs = self._conditioning(cond, holder["live"], frames, cfg)
                    sampler.x = sampler.x[:, : inputs["run_frames"]]
                    holder["velocity"] = self._velocity(inputs, cfg)
            state = sampler.advance()
            if after_step is not None:
                after_step(state, holder["live"].tolist())
        return sampler.x, holder["live"].tolist()

    # ------------------------------------------------------------ public sampling API

    def _resolve(self, steps: int | None, cfg: float | None) -> tuple[int, float]:
        steps = self.default_steps if steps is None else int(steps)
        cfg = self.default_cfg if cfg is None else float(cfg)
        if not 1 <= steps <= 1000:
            raise GenerationError(f"steps must be between 1 and 1000, got {steps}")
        if not math.isfinite(cfg) or cfg < 0:
            raise GenerationError(f"cfg must be a finite number ≥ 0, got {cfg}")
        return steps, cfg

    def sample_latent(
        self,
        ctxt: Tensor,
        ctxt_length: Tensor,
        vtxt: Tensor,
        frames: int | Sequence[int],
        seeds: Sequence[int],
        steps: int | None = None,
        cfg: float | None = None,
        on_step: LatentStepCallback | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Tensor | list[Tensor]:
        """Sample normalised latents at t = 1 from precomputed text features (no text encoder needed).

        `frames` an int → (B, frames, 201); a list of per-row lengths → a list of (L_i, 201) tensors.
        Lengths above one window use overlapping windows. `cancel()` → True stops with `Cancelled`.
        """
        steps, cfg = self._resolve(steps, cfg)
        cond = TextFeatures(ctxt, torch.as_tensor(ctxt_length).long().reshape(-1), vtxt)
        lengths = [int(frames)] * cond.batch if isinstance(frames, int) else [int(f) for f in frames]
        if len(lengths) != cond.batch or len(seeds) != cond.batch:
            raise GenerationError(f"need one length and one seed per row: {cond.batch} rows")
        for n in lengths:
            if not 1 <= n <= self.max_frames:
                raise GenerationError(f"frames must be in [1, {self.max_frames}], got {n}")
        drop = (lambda live: set(live) if cancel() else set()) if cancel is not None else None
        after = (lambda state, _live: on_step(state)) if on_step is not None else None
        out: list[Tensor | None] = [None] * cond.batch
        short = [i for i, n in enumerate(lengths) if n <= self.train_frames]
        if short:
            latents, live = self._integrate(
                cond.select(short),
                [lengths[i] for i in short],
                self._noise([seeds[i] for i in short]),
                steps,
                cfg,
                drop=drop,
                after_step=after,
            )
            for pos, r in enumerate(live):
                out[short[r]] = latents[pos, : lengths[short[r]]]
        for i, n in enumerate(lengths):
            if n > self.train_frames:
                out[i] = self._sample_long(cond.select([i]), n, [seeds[i]], steps, cfg, drop=drop, after_step=after)[0]
        result = [o for o in out if o is not None]
        if isinstance(frames, int):
            return torch.stack(result)
        return result

    # ------------------------------------------------------------ long clips

    def window_plan(self, frames: int) -> list[tuple[int, int]]:
        """(start, length) of each window covering `frames`; consecutive windows overlap by `window_overlap`."""
        if frames <= self.train_frames:
            return [(0, frames)]
        overlap = self.window_overlap
        hop = self.train_frames - overlap
        if hop <= 0:
            raise GenerationError(
                f"window overlap ({overlap} frames) must be shorter than the model's window ({self.train_frames})"
            )
        count = math.ceil((frames - overlap) / hop)
        plan = [(k * hop, self.train_frames) for k in range(count)]
        start, _ = plan[-1]
        plan[-1] = (start, frames - start)
        if plan[-1][1] < overlap + 1:
            raise GenerationError(f"cannot plan windows for {frames} frames")
        return plan

    def _sample_long(
        self,
        cond: TextFeatures,
        frames: int,
        seeds: Sequence[int],
        steps: int,
        cfg: float,
        *,
        drop: Callable[[list[int]], set[int]] | None = None,
        after_step: Callable[[FlowState, list[int]], None] | None = None,
    ) -> list[Tensor]:
        """Overlapping windows for clips longer than one training window; returns normalised (frames, 201)."""
        overlap = self.window_overlap
        plan = self.window_plan(frames)
        batch = cond.batch
        world = torch.zeros(batch, frames, FEATURE_DIM, device=self.torch_device)
        live = list(range(batch))
        for k, (start, length) in enumerate(plan):
            # Window 0 draws exactly the noise a single-window clip with this seed would.
            noise = self._noise([s + 1_000_003 * k for s in seeds]).to(self.torch_device)
            constrain = None
            frame_of: list[Tensor] = []
            if k > 0:
                tail = world[:, start : start + overlap]
                frame_of = [root_heading_frame(tail[b, 0]) for b in range(batch)]
                known = torch.stack([to_local(tail[b], *frame_of[b]) for b in range(batch)])
                known = self.normalizer.normalize(known)

                def constrain(t: Tensor, x: Tensor, rows: Tensor, known: Tensor = known, noise: Tensor = noise):
                    x = x.clone()
                    idx = rows.to(x.device)
                    x[:, :overlap] = (1 - t) * noise[idx, :overlap] + t * known[idx]
                    return x

            rows_live = [i for i in range(batch) if i in live]
            keep_in = torch.tensor(rows_live)
            window_drop = None
            if drop is not None:

                def window_drop(window_live: list[int], rows_live: list[int] = rows_live) -> set[int]:
                    gone = drop([rows_live[i] for i in window_live])
                    return {i for i in window_live if rows_live[i] in gone}

            window_after = None
            if after_step is not None:

                def window_after(state: FlowState, window_live: list[int], rows_live: list[int] = rows_live) -> None:
                    after_step(state, [rows_live[i] for i in window_live])

            latents, survivors = self._integrate(
                cond.select(rows_live),
                [length] * len(rows_live),
                noise[keep_in],
                steps,
                cfg,
                drop=window_drop,
                after_step=window_after,
                constrain=(
                    (lambda t, x, rows, c=constrain, m=keep_in: c(t, x, m[rows])) if constrain is not None else None
                ),
            )
            live = [rows_live[i] for i in survivors]
            denorm = self.normalizer.denormalize(latents[:, :length])
            for pos, b in enumerate(live):
                piece = denorm[pos] if k == 0 else to_world(denorm[pos], *frame_of[b])
                if k == 0:
                    world[b, :length] = piece
                    continue
                ramp = torch.linspace(0.0, 1.0, overlap + 2, device=piece.device)[1:-1, None]
                world[b, start : start + overlap] = (1 - ramp) * world[b, start : start + overlap] + ramp * piece[
                    :overlap
                ]
                world[b, start + overlap : start + length] = piece[overlap:]
        return [self.normalizer.normalize(world[b]) for b in live]

    # ------------------------------------------------------------ decoding

    def decode(
        self,
        latent: Tensor,
        postprocess: post.PostProcess | None = None,
        text: str = "",
        seeds: Sequence[int] | None = None,
    ) -> list[Motion]:
        """Normalised latents (B, L, 201) or (L, 201) → Motions (root + 22 local rotations), post-processed."""
        if latent.dim() == 2:
            latent = latent[None]
        settings = self.postprocess if postprocess is None else postprocess
        host = latent.detach().to(HOST, torch.float32)
        root, quats = decode_features(self.normalizer.denormalize(host).double())
        root_np, quats_np = root.numpy(), quats.numpy()
        motions = []
        for b in range(latent.shape[0]):
            r, q = post.apply(root_np[b], quats_np[b], settings)
            seed = int(seeds[b]) if seeds is not None else 0
            motions.append(
                Motion(root=r, rotations=q, fps=self.fps, joints=BODY_JOINTS, text=text, seed=seed, model=self.name)
            )
        return motions

    # ------------------------------------------------------------ MotionModel

    def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        on_step: StepCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> list[list[Motion] | None]:
        if not requests:
            return []
        if any(r.constraints for r in requests):
            from engine.model.directing.sampling import generate_directed  # directing builds on this module

            return generate_directed(self, requests, on_step, cancelled)
        settings = {self._resolve(r.steps, r.cfg) for r in requests}
        if len(settings) != 1:
            raise GenerationError("requests in one batch must share steps and cfg")
        steps, cfg = settings.pop()
        rows: list[_Row] = []
        for i, r in enumerate(requests):
            if r.samples < 1:
                raise GenerationError(f"samples must be at least 1, got {r.samples}")
            if not math.isfinite(r.seconds) or r.seconds <= 0:
                raise GenerationError(f"seconds must be a positive number, got {r.seconds}")
            if r.seconds > self.max_seconds:
                raise GenerationError(f"seconds must be at most {self.max_seconds:g}, got {r.seconds:g}")
            rows += [_Row(i, k, r.seed + k, self.frames_for(r.seconds)) for k in range(r.samples)]
        prompts = list(dict.fromkeys(r.prompt for r in requests))
        encoded = self.encode_text(prompts)
        cond = encoded.select([prompts.index(requests[row.request].prompt) for row in rows])

        # One batch for every clip that fits a window; each longer request runs its windows on its own.
        short = [j for j, row in enumerate(rows) if row.frames <= self.train_frames]
        long_requests = sorted({row.request for row in rows if row.frames > self.train_frames})
        groups = ([short] if short else []) + [
            [j for j, row in enumerate(rows) if row.request == i] for i in long_requests
        ]
        windows = sum(len(self.window_plan(rows[g[0]].frames)) for g in groups[bool(short) :])
        total_steps = steps * (bool(short) + windows)
        done: dict[int, list[Motion]] = {}
        dead: set[int] = set()
        progress = {"step": 0}

        def drop_rows(group: list[int]) -> Callable[[list[int]], set[int]]:
            def drop(live: list[int]) -> set[int]:
                if cancelled is None:
                    return set()
                for req in {rows[group[i]].request for i in live}:
                    if req not in dead and cancelled(req):
                        dead.add(req)
                return {i for i in live if rows[group[i]].request in dead}

            return drop

        def preview(req: int, estimates: dict[int, list]) -> list[Motion]:
            r = requests[req]
            return [
                m
                for seed, latent in estimates.get(req, [])
                for m in self.decode(latent[None], post.PostProcess.none(), text=r.prompt, seeds=[seed])
            ]

        def after_step(group: list[int]) -> Callable[[FlowState, list[int]], None]:
            def after(state: FlowState, live: list[int]) -> None:
                progress["step"] += 1
                estimates: dict[int, list] = {}
                for pos, i in enumerate(live):
                    row = rows[group[i]]
                    n = min(row.frames, state.estimate.shape[1])
                    estimates.setdefault(row.request, []).append((row.seed, state.estimate[pos, :n]))
                if on_step is not None:
                    on_step(StepEvent(progress["step"], total_steps, lambda req: preview(req, estimates)))

            return after

        for group in groups:
            sub = cond.select(group)
            group_rows = [rows[j] for j in group]
            try:
                if group is short:
                    latents, live = self._integrate(
                        sub,
                        [row.frames for row in group_rows],
                        self._noise([row.seed for row in group_rows]),
                        steps,
                        cfg,
                        drop=drop_rows(group),
                        after_step=after_step(group),
                    )
                    pieces = {i: latents[pos, : group_rows[i].frames] for pos, i in enumerate(live)}
                else:
                    per_row = self._sample_long_rows(sub, group_rows, steps, cfg, drop_rows(group), after_step(group))
                    pieces = per_row
            except Cancelled:
                continue
            by_request: dict[int, list[Motion]] = {}
            for i, latent in pieces.items():
                row = group_rows[i]
                req = requests[row.request]
                motion = self.decode(latent, text=req.prompt, seeds=[row.seed])[0]
                motion = clip_ops.apply_options(motion, req.in_place, req.loop)
                by_request.setdefault(row.request, []).append(motion)
            for req, motions in by_request.items():
                if req not in dead:
                    done[req] = motions
        if not done:
            raise Cancelled("every request in the batch was cancelled")
        return [done.get(i) for i in range(len(requests))]

    def _sample_long_rows(
        self,
        cond: TextFeatures,
        group_rows: list[_Row],
        steps: int,
        cfg: float,
        drop: Callable[[list[int]], set[int]],
        after: Callable[[FlowState, list[int]], None],
    ) -> dict[int, Tensor]:
        """Long clip for the samples of one request; returns {row position in group: latent}."""
        frames = group_rows[0].frames
        survivors: list[int] = []

        def track(live: list[int]) -> set[int]:
            gone = drop(live)
            survivors[:] = [i for i in live if i not in gone]
            return gone

        latents = self._sample_long(
            cond, frames, [r.seed for r in group_rows], steps, cfg, drop=track, after_step=after
        )
        alive = survivors if survivors else list(range(len(group_rows)))
        return dict(zip(alive, latents, strict=True))


# ---------------------------------------------------------------- window frames (denormalised features)
