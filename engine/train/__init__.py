"""Training the embedded model and measuring it (never imported by the daemon or the clients).

- `mocap`: motion-capture importers (CMU BVH/FBX, DeepMimic) → SMPL-H training clips;
- `dataset`: the training dataset and its caption manifests; `training`: `motionbridge train`;
- `packing`: `motionbridge dataset pack|unpack`, a built training set as one small file;
- `focus`: `motionbridge dataset focus`, a built set cut down to its base clips and the everyday actions;
- `checks`: physical measures of a clip and `Check`, a prompt with the measure it must pass;
- `evaluation`, `everyday_checks`: `motionbridge eval` and its prompt sets;
- `retrieval`: the text–motion evaluator for R-precision and FID;
- `directing_metrics`: how far a directed clip is from its constraints, join smoothness, the data's percentiles.
"""
