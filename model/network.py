"""One encoder, four heads: stance, sentence loaded-language, token loaded-language, token techniques.

Sharing the encoder lets the loaded-language signal from the propaganda corpus and the
stance signal from real news shape the same representation, while per-record loss masks let
records that carry only one kind of label (a PTC line has techniques but no stance) still
train the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from stancelens.model.labels import IGNORE_INDEX, STANCE_LABELS
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel

TECHNIQUE_PRIOR_LOGIT = -4.0  # sigmoid(-4) = 0.018


@dataclass
class HeadOutputs:
    """Raw logits of the four heads for one batch."""

    stance_logits: torch.Tensor  # (batch, n_stance)
    loaded_logits: torch.Tensor  # (batch,)
    token_logits: torch.Tensor  # (batch, seq_len)
    technique_logits: torch.Tensor  # (batch, seq_len, n_techniques); n_techniques may be 0
    hidden: torch.Tensor  # (batch, seq_len, hidden_size): the encoder's last layer, which the span classifier reads


@dataclass
class LossWeights:
    """Relative weights of the four task losses."""

    stance: float = 1.0
    loaded: float = 1.0
    token: float = 1.0
    technique: float = 1.0


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors a sentence really has (MiniLM was trained with this pooling)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class StanceLensModel(nn.Module):
    """Multi-task network over any Hugging Face encoder.

    ``n_techniques=0`` builds a network without the technique head (models trained before
    it existed, or without PTC): its technique logits are an empty last axis.
    """

    def __init__(
        self, encoder: PreTrainedModel, n_stance: int = len(STANCE_LABELS), dropout: float = 0.1, n_techniques: int = 0
    ):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.stance_head = nn.Linear(hidden, n_stance)
        self.loaded_head = nn.Linear(hidden, 1)
        self.token_head = nn.Linear(hidden, 1)
        self.technique_head = nn.Linear(hidden, n_techniques) if n_techniques else None
        if self.technique_head is not None:
            # Techniques cover ~2% of tokens each: starting at that prior keeps the first steps'
            # gradients (14 channels at p=0.5) from swamping the stance signal in the encoder.
            nn.init.constant_(self.technique_head.bias, TECHNIQUE_PRIOR_LOGIT)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> HeadOutputs:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        pooled = self.dropout(mean_pool(hidden, attention_mask))
        tokens = self.dropout(hidden)
        return HeadOutputs(
            stance_logits=self.stance_head(pooled),
            loaded_logits=self.loaded_head(pooled).squeeze(-1),
            token_logits=self.token_head(tokens).squeeze(-1),
            technique_logits=self.technique_logits(tokens),
            hidden=hidden,
        )

    def technique_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Per-token, per-technique logits (an empty last axis without the head)."""
        return self.technique_head(hidden) if self.technique_head is not None else hidden[..., :0]


def multitask_loss(
    outputs: HeadOutputs,
    stance_labels: torch.Tensor,
    loaded_labels: torch.Tensor,
    token_labels: torch.Tensor,
    technique_labels: torch.Tensor | None = None,
    weights: LossWeights | None = None,
    sample_weights: torch.Tensor | None = None,
    stance_class_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the task losses, each averaged only over records that carry its label.

    A batch in which no record has a label for a task contributes exactly zero for that
    task (not NaN), so mixed batches of stance-only and loaded-only records are safe.
    The technique loss is summed over techniques and averaged over labelled tokens, so it
    weighs like the token loss although each technique is rare. ``sample_weights`` (one per
    record, the per-source weights of the config) make the
    averages weighted; the default weighs every record alike. ``stance_class_weights`` (one
    per stance label) re-weigh the stance loss by the gold class, e.g. inverse frequency.
    """
    weights = weights or LossWeights()
    zero = outputs.stance_logits.sum() * 0.0
    if sample_weights is None:
        sample_weights = torch.ones_like(loaded_labels, dtype=torch.float32)
    parts: dict[str, torch.Tensor] = {}

    def weighted_mean(losses: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (losses * w).sum() / w.sum().clamp(min=1e-12)

    stance_mask = stance_labels != IGNORE_INDEX
    parts["stance"] = (
        weighted_mean(
            F.cross_entropy(
                outputs.stance_logits[stance_mask].float(),
                stance_labels[stance_mask],
                weight=stance_class_weights,
                reduction="none",
            ),
            sample_weights[stance_mask],
        )
        if stance_mask.any()
        else zero
    )

    def masked_bce(logits: torch.Tensor, labels: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Weighted binary cross-entropy over the positions that carry a label (others are ignored)."""
        mask = labels != IGNORE_INDEX
        if not mask.any():
            return zero
        losses = F.binary_cross_entropy_with_logits(logits[mask].float(), labels[mask].float(), reduction="none")
        return weighted_mean(losses, w[mask])

    parts["loaded"] = masked_bce(outputs.loaded_logits, loaded_labels, sample_weights)
    parts["token"] = masked_bce(outputs.token_logits, token_labels, sample_weights.unsqueeze(1).expand_as(token_labels))
    if technique_labels is not None and outputs.technique_logits.shape[-1]:
        per_token = sample_weights[:, None, None].expand_as(technique_labels)
        n_techniques = technique_labels.shape[-1]
        parts["technique"] = masked_bce(outputs.technique_logits, technique_labels, per_token) * n_techniques
    else:
        parts["technique"] = zero
    total = (
        weights.stance * parts["stance"]
        + weights.loaded * parts["loaded"]
        + weights.token * parts["token"]
        + weights.technique * parts["technique"]
    )
    return total, {name: float(value.detach()) for name, value in parts.items()}
