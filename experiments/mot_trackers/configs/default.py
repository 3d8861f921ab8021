"""Configs of the tracker study. Variants: tiny (CI smoke, seconds), cpu (the README table, minutes on
2 cores), paper (longer sequences, more of them, a larger ReID network; for a bigger machine).

Usage: --config experiments/mot_trackers/configs/default.py:cpu

`num_steps` is the ReID training length; `trackers` maps a variant name to a tracker and its parameters
(`genvision_jax.tracking.make_tracker`); a DeepSORT variant gets `feature_dim` from the ReID network.
A workdir's finished ReID network is reused by re-running in it (the run resumes at its last step).
"""

import ml_collections

from genvision_jax.train.config import run_config

DETECTION_THRESHOLD = 0.5  # SORT and DeepSORT drop detections below it; ByteTrack's high/low split point


def trackers() -> ml_collections.ConfigDict:
    """The compared variants: published defaults, then one change each."""
    t = DETECTION_THRESHOLD
    variants = {
        # Bewley et al. 2016 reference settings.
        "sort": {"tracker": "sort", "params": {"max_age": 1, "min_hits": 3, "iou_threshold": 0.3, "min_score": t}},
        # The same with a 30-frame lost-track buffer (ByteTrack's), to separate buffer from appearance.
        "sort_age30": {"tracker": "sort", "params": {"max_age": 30, "min_hits": 3, "iou_threshold": 0.3,
                                                     "min_score": t}},
        # Feeding SORT the low-score boxes directly instead of a second association.
        "sort_lowscore": {"tracker": "sort", "params": {"max_age": 1, "min_hits": 3, "iou_threshold": 0.3,
                                                        "min_score": 0.1}},
        "sort_greedy": {"tracker": "sort", "params": {"max_age": 1, "min_hits": 3, "iou_threshold": 0.3,
                                                      "min_score": t, "matching": "greedy"}},
        # Wojke et al. 2017 settings (max_age 70, n_init 3, cosine 0.2, budget 100).
        "deepsort": {"tracker": "deepsort", "params": {"min_score": t}},
        "deepsort_ema": {"tracker": "deepsort", "params": {"min_score": t, "appearance": "ema"}},
        "deepsort_noreid": {"tracker": "deepsort", "params": {"min_score": t, "appearance": "none"}},
        # Zhang et al. 2022 MOT17 settings (high 0.5, low 0.1, buffer 30, fused scores).
        "bytetrack": {"tracker": "bytetrack", "params": {"track_thresh": t}},
        "bytetrack_greedy": {"tracker": "bytetrack", "params": {"track_thresh": t, "matching": "greedy"}},
    }
    return ml_collections.ConfigDict(variants)


def base() -> ml_collections.ConfigDict:
    # num_steps counts ReID training steps (genvision_jax.tasks.reid trains, evaluates and benchmarks).
    c = run_config("reid", num_steps=1500, log_every=100, checkpoint_every=500, keep_checkpoints=3)

    c.benchmark = ml_collections.ConfigDict()
    c.benchmark.levels = ("easy", "medium", "hard")  # genvision_jax.data.mot_synthetic.LEVELS
    c.benchmark.sequences_per_level = 3
    c.benchmark.num_frames = 400
    c.benchmark.width = 320
    c.benchmark.height = 240
    c.benchmark.iou_threshold = 0.5   # CLEAR / Identity match threshold
    c.benchmark.low_score_range = (0.1, DETECTION_THRESHOLD)  # "low-score detections" for the recovery count
    c.benchmark.timing_repeats = 2    # runs per tracker and sequence; FPS from the fastest (shared machine)

    c.trackers = trackers()

    c.reid = ml_collections.ConfigDict()
    c.reid.train_pairs = 6            # two-camera training scenes (shared identities across cameras)
    c.reid.train_frames = 300
    c.reid.frame_step = 5             # take crops every n-th frame
    c.reid.min_visibility = 0.5
    c.reid.box_jitter = 0.05          # crops from jittered GT boxes, like detections
    c.reid.train = ml_collections.ConfigDict(dict(
        p=16, k=4, learning_rate=3e-3, margin=0.3, id_loss_weight=1.0, embedding_dim=64,
        widths=(16, 32, 64, 64), num_parts=4, crop_hw=(32, 16), max_shift=2, colour_jitter=0.2, erase_prob=0.5))
    c.reid.eval_pairs = 2             # held-out two-camera scenes: retrieval and tracklet association
    c.reid.association_max_distance = 0.5
    return c


def get_config(variant: str = "cpu") -> ml_collections.ConfigDict:
    c = base()
    if variant == "tiny":
        c.num_steps = 8
        c.log_every = 4
        c.checkpoint_every = 4
        c.benchmark.levels = ("easy", "hard")
        c.benchmark.sequences_per_level = 1
        c.benchmark.num_frames = 30
        c.benchmark.width, c.benchmark.height = 160, 120
        c.benchmark.timing_repeats = 1
        c.reid.train_pairs = 1
        c.reid.train_frames = 40
        c.reid.eval_pairs = 1
        c.reid.train.p, c.reid.train.k = 4, 2
        c.reid.train.widths = (8, 16, 16)
        c.reid.train.embedding_dim = 16
    elif variant == "cpu":
        pass  # the base: ~5 minutes on 2 shared cores, most of it ReID training and DeepSORT
    elif variant == "paper":
        c.num_steps = 20_000
        c.log_every = 500
        c.checkpoint_every = 2000
        c.benchmark.sequences_per_level = 10
        c.benchmark.num_frames = 1000
        c.benchmark.width, c.benchmark.height = 640, 480
        c.reid.train_pairs = 40
        c.reid.train_frames = 600
        c.reid.eval_pairs = 10
        c.reid.train.crop_hw = (64, 32)
        c.reid.train.widths = (32, 64, 128, 128)
        c.reid.train.embedding_dim = 128
        c.reid.train.p, c.reid.train.k = 32, 4
    else:
        raise ValueError(f"unknown mot_trackers config variant {variant!r}; choose tiny, cpu or paper")
    c.lock()
    return c
