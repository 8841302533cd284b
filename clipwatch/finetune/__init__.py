"""Fine-tuning the CNN on your labelled clips, on CPU: `clipwatch finetune`.

The ImageNet backbone stays frozen up to its last `blocks` MBConv blocks; those blocks, the 1x1 head
convolution and a linear layer on the pooled features learn from the clips' pictures (each picture
labelled with its clip's action; a clip is scored by its pictures' mean probabilities). The pictures are
the ones the embedding sees, taken through the one sampler (`ClipEmbedder.frames` and
`clipwatch.streams.pictures`: frames and dynamic images for rgb+dynamic). What reaches the frozen
boundary is computed once per picture and per horizontal flip, so an epoch runs only the trainable
blocks on 7 x 7 maps: that is what makes this affordable on two cores.

Augmentation: a horizontal flip of the picture (real, before the CNN), channel dropout on the frozen
features and random translation of the 7 x 7 map by one cell. Early stopping watches clip accuracy on
validation recordings that training never sees (grouped by recording whenever groups are known).

Whether it pays is measured, not assumed: `evaluate` runs grouped outer folds, fine-tuning on the
training recordings only and classifying the held-out ones with the default classifier on vectors from
the fine-tuned CNN, beside the same classifier on the ImageNet CNN's vectors, on the same splits.

torch is imported inside functions only: serving, reporting and the web app never install it.
"""

from clipwatch.finetune.features import FinetuneConfig, Pictures, collect
from clipwatch.finetune.gate import Evaluation, evaluate, export
from clipwatch.finetune.training import FitReport, clip_vectors, fit

__all__ = [
    "Evaluation",
    "FinetuneConfig",
    "FitReport",
    "Pictures",
    "clip_vectors",
    "collect",
    "evaluate",
    "export",
    "fit",
]
