"""Class-conditional diffusion pipelines in the diffusers layout (`from_pretrained` / `save_pretrained`)."""

from .class_conditional import ClassConditionalPipeline, classifier_free_guidance, images_to_uint8
from .pipeline_class_conditional_ddpm import ClassConditionalDDPMPipeline
from .pipeline_class_conditional_dit import ClassConditionalDiTPipeline, label_dropout_disabled

__all__ = [
    "ClassConditionalDDPMPipeline",
    "ClassConditionalDiTPipeline",
    "ClassConditionalPipeline",
    "classifier_free_guidance",
    "images_to_uint8",
    "label_dropout_disabled",
]
