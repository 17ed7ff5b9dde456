"""Post-processing of decoded clips, in numpy.

- `postprocess`: upstream HY-Motion's steps (smoothing, root filter, ground lift) as a `PostProcess` setting;
- `smoothing`: the sign-safe Gaussian smoothing of rotations both post-processing and foot lock use;
- `footlock`: planting feet that should not slide;
- `clip_ops`: clip options (resample, trim, in place, loop).
"""
