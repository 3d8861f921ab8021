"""The shipped 32x32 domain classifiers as feature extractors: 'digits', 'shapes' and 'synthetic_faces'.

Their 128-d penultimate features (the dense layer 'fc' before its ReLU) define FID/KID/PR on the
embedded datasets; their class logits give an Inception-Score analogue. Weights ship in
`genvision_jax/weights/` with a JSON record of how they were trained (sha256, accuracy, protocol).
"""

from __future__ import annotations

from genvision_jax.metrics.features import FEATURE_EXTRACTORS, OUTPUTS, FeatureExtractor, InputSpec
from genvision_jax.models.recognizers import digits_classifier, faces_classifier, shapes_classifier


def _classifier_extractor(module, weights_dir, batch_size: int, output: str) -> FeatureExtractor:
    """A shipped ConvClassifier as an extractor: penultimate features or class logits."""
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; valid: {list(OUTPUTS)}")
    model, params, info = module.load_pretrained(weights_dir)
    return_features = output == "features"

    def apply_fn(params, images):
        return model.apply({"params": params}, images, return_features=return_features)

    layer = info["feature_layer"] if return_features else "logits"
    return FeatureExtractor(
        name=f"{info['name']}/{layer}",
        apply_fn=apply_fn,
        params=params,
        weights_sha256=info["sha256"],
        input_spec=InputSpec(**info["input_spec"]),
        batch_size=batch_size,
    )


@FEATURE_EXTRACTORS.register("digits")
def load_digits_extractor(weights_dir=None, batch_size: int = 256,
                          output: str = "features") -> FeatureExtractor:
    """The shipped 32x32x1 digits classifier: 128-d penultimate features (FID/KID/PR) or its
    10 class logits (`output='logits'`, for the Inception Score)."""
    return _classifier_extractor(digits_classifier, weights_dir, batch_size, output)


@FEATURE_EXTRACTORS.register("shapes")
def load_shapes_extractor(weights_dir=None, batch_size: int = 256,
                          output: str = "features") -> FeatureExtractor:
    """The shipped 32x32x3 shapes classifier: 128-d penultimate features or its 6 class logits."""
    return _classifier_extractor(shapes_classifier, weights_dir, batch_size, output)


@FEATURE_EXTRACTORS.register("synthetic_faces")
def load_faces_extractor(weights_dir=None, batch_size: int = 256,
                         output: str = "features") -> FeatureExtractor:
    """The shipped 32x32x3 synthetic-faces classifier: 128-d penultimate features or its 6 hair-colour logits."""
    return _classifier_extractor(faces_classifier, weights_dir, batch_size, output)
