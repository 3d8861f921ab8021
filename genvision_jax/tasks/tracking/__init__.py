"""The tracking family above the tracker library (`genvision_jax.tracking`): the benchmark and ReID
evaluation the ReID trainer reports (`benchmark`), and the command lines

    python -m genvision_jax.tasks.tracking run --tracker bytetrack --detections det.txt --out result.txt
    python -m genvision_jax.tasks.tracking evaluate gt.txt result.txt [--json]
"""
