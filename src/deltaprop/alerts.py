"""Alerts: rules over the per-epoch diagnostics and the loss and accuracy curves that say
what went wrong, in which layer, on what evidence, and what to change.

Every rule reads the history records so far (each epoch's ``loss``, ``accuracy``,
``val_accuracy`` and ``diagnostics``, see :mod:`deltaprop.diagnostics`) and speaks about the
latest epoch. :class:`AlertMonitor` keeps which (rule, layer) pairs have fired, so each alert
is raised once, the first time it holds.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any

#: Dead ReLU: alert when more than this share of a layer's units is dead on the whole probe
#: batch. CS231n's notes on ReLU: with a learning rate set too high "as much as 40% of your
#: network can be dead"; at that point the layer has lost a large part of its width.
DEAD_SHARE = 0.4
#: A ReLU output layer is held to no share: each of its units is an output of its own (a
#: class's score, or a target's value), and a dead one answers 0 for every input, so the
#: network never picks that class (or fits that target), and no gradient revives it. Under
#: squared error on one-hot rows, nine of each row's ten targets are 0 and pull every
#: output below it: on the MNIST sample a ReLU output at lr 0.03 has 10-20% of its units
#: dead and training accuracy stops at 0.67; at lr 0.3 all of them die in the first epoch.

#: Saturation: alert when more than this share of a sigmoid/tanh layer's entries sit on the
#: flat ends (slope under 4% of its peak, see diagnostics.SATURATED_SLOPE): their δ carries a
#: σ' at least 25× smaller than at the centre (seed 003's learning slowdown) ...
SATURATED_SHARE = 0.5
#: ... and the Dense layer that feeds it moves its weights by less than this share of their
#: size a step (update ratio ‖ΔW‖/‖W‖), so the small σ' does slow the layer's learning. On
#: the bundled MNIST sample the default 784-50-10 sigmoid network's first layer moves by
#: 1e-2 to 3e-2 a step under SGD (lr 0.3): 25 times less is 1e-3. An adaptive optimizer
#: (RMSprop, Adam, AdaGrad, AdaDelta) divides each weight's step by its own gradient's size,
#: so a small σ' need not slow it: under RMSprop the same network has 50-70% of its hidden
#: outputs saturated while its first layer moves by 2e-2 to 7e-2 a step and reaches training
#: accuracy 0.996; sigmoid layers with large initial weights (scaled_normal(3)) under SGD
#: with squared error move by 1e-4 to 4e-4 and stay at chance.
SATURATED_UPDATE = 1e-3
#: ... unless more than this share of its units are stuck (saturated at the same end on every
#: probe row, diagnostics.stuck_share): a stuck unit is a near-constant, as a dead ReLU is, so
#: large steps of the weights feeding it show that the steps put it there, not that it
#: learns. The same share as DEAD_SHARE. On the MNIST sample the default network's hidden
#: layer has no stuck unit under RMSprop (0.01) or Adam (0.001, 0.01), 20-36% under RMSprop
#: at 0.03 (training accuracy 0.94), and 76% after one epoch of Adam at 0.5, its first layer's
#: ‖W‖ 66× what it started at and training accuracy 0.37-0.50 for ten epochs.
STUCK_SHARE = DEAD_SHARE
# ... and unless the Dense layer feeding it moves its weights by a larger share a step than
# every Dense layer after it (:func:`_faster_than_after`). Its σ' enters δ only on the way
# to the layers before it (δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ σ'(zˡ)); a Dense layer after it has
# ∇W = aˡᵀ δˡ⁺¹, no σ'(zˡ) factor. Where the weights feeding the saturated layer move faster
# than those, its σ' is not what keeps them under SATURATED_UPDATE: the run's step size is,
# every layer's ratio shrinking as the loss falls and the weights grow. Seed 000's reference
# run (``seed000_sgd.toml``: 69-77% of the hidden outputs saturated, no stuck unit) moves
# layer 1 by 2.4e-4 to 3.3e-3 a step, under 1e-3 in six of ten epochs, 1.4-3.3× as much as
# layer 3 after it, while training accuracy rises from 0.92 to 0.99 (test 0.959); its
# variant without a linear layer (``seed000_nolinear_sgd.toml``) moves layer 1 by 1.6e-3 at
# epoch 1 and 9.8e-4 at epoch 5, 2.7-6.4× layer 3's, training accuracy 0.87 to 0.958, and
# starting from glorot_uniform or scaled_normal(0.01), as the alert advised, ends at the
# same 0.959. Weights a saturated layer slows move slower than those after it: a first
# layer from scaled_normal(3) by 2e-5 a step against 2.6e-2, unscaled inputs 1e-6 against 1.1e-2.

#: Vanishing gradients: alert when the first Dense layer's update ratio ‖ΔW‖/‖W‖ is below
#: this share of the last Dense layer's. Healthy networks keep the ratios of all layers within
#: one or two orders of magnitude of each other (about 1e-3 each, CS231n's rule of thumb);
#: each sigmoid layer can shrink δ by 4 (σ' ≤ 1/4), so ten of them lose about 10⁶.
VANISHING_RATIO = 1e-3

#: Exploding gradients: a Dense layer's ‖∇W‖ on the probe batch at least this many times
#: the largest ‖∇W‖ any Dense layer had at the first epoch recorded (or not finite). For a
#: Dense layer ∇W = aᵀδ, and both factors grow with the weights of the other layers
#: (δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ σ'(zˡ)); healthy training keeps every layer's gradient near or below
#: the size it starts at (on the MNIST sample, the bundled optimizers on sigmoid, tanh and
#: ReLU networks stay within 7× of the first epoch's, iris, wine and breast cancer within 8×
#: unless the loss explodes). A layer whose gradient was vanishing can grow by orders of
#: magnitude as it recovers (ten sigmoid layers under Adam: the first from 4e-6 to 0.22), so
#: the yardstick is the largest layer's, not its own: recovering, it reaches the size of the
#: others, not a hundred times it. Steps too large for the curvature multiply the error each
#: step (gradient descent on a quadratic with α·λ > 2 multiplies it by |1 − α·λ|): full-batch
#: descent at lr 5 on four ReLU layers takes the gradients from 11 to 1,650 in one step, and
#: momentum 0.99 on breast cancer multiplies them by about 10 an epoch, 3,900 (302×) by the
#: fourth, while the loss still sits near its first epoch's.
EXPLODING_GRADIENT = 100.0

#: Exploding loss: the training loss above this multiple of the best epoch before the rise,
#: and higher than that best by more than LOSS_FLOOR of the first epoch's loss (the floor
#: keeps a loss that has already fallen 50-fold, 0.010 to 0.016 on breast cancer with
#: RMSprop, 0.3 at the start, from counting as a divergence), either above the first epoch's
#: loss (all the ground gained is lost) or for EXPLODING_EPOCHS epochs in a row. One epoch
#: is no divergence: RMSprop at its default rate on breast cancer drives the loss to 1e-3 or
#: less and then spikes for one or two epochs (0.0016 to 0.0126, 7.8×, then 0.0019 the next
#: epoch; at most 0.71 of the first epoch's loss, back under it within two epochs) while
#: its test accuracy ends at 0.94-0.99. A learning rate too high for the problem (SGD with
#: momentum 0.99 on the MNIST sample) sends the loss above the first epoch's at once (4.6,
#: then 7.4 to 12) or keeps it up epoch after epoch (iris: 0.40, 0.48, 0.71 after a best of
#: 0.23).
EXPLODING_FACTOR = 1.5
LOSS_FLOOR = 0.05
EXPLODING_EPOCHS = 3

#: Oscillating loss: within the last OSCILLATION_WINDOW epoch-to-epoch changes, at least one
#: fall and at least OSCILLATION_RISES rises of more than OSCILLATION_STEP of the loss and of more than
#: OSCILLATION_FLOOR of the first epoch's loss (noise from shuffling moves an epoch's mean
#: loss by far less than 5% while the loss is large; near its minimum, on 150 iris rows,
#: it moves between 0.054 and 0.068 on a healthy run that started at 1.1).
OSCILLATION_WINDOW = 6
OSCILLATION_RISES = 3
OSCILLATION_STEP = 0.05
OSCILLATION_FLOOR = 0.01

#: Flat loss: over the last epochs, at least FLAT_EPOCHS of them and at least FLAT_STEPS
#: optimizer steps, the loss stayed within FLAT_CHANGE of its latest value, while the network
#: is still far from fitting its data (training accuracy below FLAT_FITTED; a regression loss
#: above FLAT_FITTED_LOSS). The steps matter: full-batch gradient descent takes one step an
#: epoch, and seed 000's (lr 0.3) lowers the loss by only 0.03% an epoch at epoch 365 while
#: it goes on from 0.29 to 0.20 by epoch 1000; three mini-batch epochs of MNIST at batch 128
#: are 1,407 steps.
FLAT_EPOCHS = 3
FLAT_STEPS = 1000
FLAT_CHANGE = 1e-3
FLAT_FITTED = 0.99
FLAT_FITTED_LOSS = 1e-3
#: A flat loss at a minimum is no alert: when every Dense layer's relative gradient
#: ‖∇W‖/‖W‖ is under CONVERGED_GRADIENT, gradient descent has converged (least squares and
#: logistic regression at scikit-learn's optimum, whose loss cannot fall further).
CONVERGED_GRADIENT = 1e-5
#: Steps too small to learn: when every Dense layer's update ratio ‖ΔW‖/‖W‖ is under
#: TINY_UPDATE, the flat-loss window needs FLAT_EPOCHS epochs, not FLAT_STEPS steps (a
#: learning rate of 1e-9 moves nothing, however few steps a full-batch run has taken).
TINY_UPDATE = 1e-7

#: Chance accuracy: after CHANCE_EPOCHS epochs and CHANCE_STEPS optimizer steps, training
#: accuracy that closes less than CHANCE_MARGIN of the gap between always answering the most
#: common class (chance) and 1: at most 0.19 for ten balanced classes, 0.55 for two, and
#: 0.964 where 96% of the rows are one class (an absolute margin could not be passed there).
#: Full-batch gradient descent takes one step an epoch: three of them say nothing yet. With
#: unequal sample weights both sides are weighted (see context_of): the probe batch's
#: weighted accuracy against the weighted share of the heaviest class.
CHANCE_EPOCHS = 3
CHANCE_STEPS = 100
CHANCE_MARGIN = 0.1
#: Before the run's last epoch a likelihood loss below that of predicting the class
#: frequencies (Context.frequencies_loss) that still falls (:func:`_still_falling`) is no
#: alert: the network scores the rows better than any guess, and its accuracy follows once the
#: rare classes' probabilities pass the common one's. Where 94% of the rows are one class,
#: Adam at its usual rate ends epoch 3 at running accuracy 0.944 (chance 0.944), its loss
#: 0.29, 0.20 against 0.21 for the frequencies, and reaches 0.97 (validation 0.98); the alert
#: told it to raise the rate 10-100×.
#: The same rule at the run's last epoch (where :class:`Context` knows the run's limits) holds
#: however few steps it took: a run that ends at chance has not learned, and one that took
#: fewer than CHANCE_STEPS steps is told that its updates were too few (two full-batch epochs
#: are two updates), not left with the summary's "no alerts", unless another rule holds
#: there (units that are copies, dead or saturated: more updates would not fix those, and
#: that alert says so). A short run that ends above chance raises nothing.

#: Loss above guessing: a classifier's training loss over an epoch more than LOSS_ABOVE_GUESS
#: times the loss of giving every class the same probability (ln k for k classes under
#: cross-entropy; an untrained network starts near it, and predicting the class frequencies
#: scores the labels' entropy, at most that). A healthy first epoch ends below it (the MNIST
#: sample's default network: 1.03 against ln 10 = 2.30); with lr 200 the loss sits at 14.3
#: from epoch 1 on, 6× ln 10, every step throwing the weights past any minimum. The rule
#: holds from the first epoch, where exploding_loss, which needs a rise, cannot. A loss that was
#: above it before the first step (Context.start_loss: ReLU units from scaled_normal(1), 13.1
#: at the start and 12.1 after an epoch at lr 0.001) is the initial weights' or the inputs'
#: size, not the steps', and its evidence says so, unless the loss is more than EXPLODING_FACTOR
#: times that start: then the steps raised it further, and both are too large. Under squared
#: error the guess is always predicting the targets' mean (for one-hot rows, the class
#: frequencies: 1 − Σ p̄_c², 0.90 for ten balanced classes): an identity output at lr 0.3 on
#: unscaled CSV columns reaches 179 at epoch 1 against 0.59; the parity network ends epoch 1
#: at 0.48 against 0.50. A squared-error start above it (saturated sigmoid outputs: seed 001's
#: MNIST network starts at 3.8) holds only once the steps raise the loss EXPLODING_FACTOR× it.
LOSS_ABOVE_GUESS = 2.0

#: Targets out of the output's reach: under squared error, targets outside the range of the
#: output activation (sigmoid (0, 1), tanh (−1, 1), ReLU [0, ∞), softmax [0, 1]) set a floor
#: under the loss that no weights get below, the loss of the nearest outputs in that range.
#: An alert where the floor is more than UNREACHABLE_SHARE of the loss of always predicting
#: the targets' mean: the run cannot fit its targets, however long it trains (a sigmoid
#: output on targets from 0 to 100 stays at 4,680 against 4,900 for the mean). Class
#: targets (0/1, one-hot) lie within every output's range: the rule never holds for them.
UNREACHABLE_SHARE = 0.1
#: The range of each bounded output activation's values, in words.
OUTPUT_RANGES = {"Sigmoid": (0.0, 1.0, "(0, 1)"), "Tanh": (-1.0, 1.0, "(−1, 1)"), "ReLU": (0.0, math.inf, "[0, ∞)"),
                 "Softmax": (0.0, 1.0, "[0, 1]")}

#: Unsettled weights: the weights as an epoch ends score, on the probe batch of training rows
#: (dropout off), more than UNSETTLED_GAP below the epoch's running accuracy (its mean over the
#: steps, each batch scored by the weights before its step) and under the midpoint between
#: it and chance, at the run's last epoch or in UNSETTLED_EPOCHS epochs in a row. Healthy
#: training ends an epoch on weights at least as good as the epoch's mean (the first epoch's
#: mean counts the untrained start, dropout lowers the running one); steps too large for the
#: batch throw the weights off as often as onto a minimum: 3 classes of make_classification
#: at lr 0.3, batch 20, end epoch 10 at 0.38 on the training rows (0.34 always answering the
#: most common class) while the epoch's running accuracy says 0.68, and that network, which
#: answers one class for 95% of the rows, is the model saved. Two epochs, or the last: one
#: bad end mid-run that the next epoch mends is the noise of a large step, not the model's.
UNSETTLED_GAP = 0.1
UNSETTLED_EPOCHS = 2

#: Strong weight decay: under L2 decay each step follows ∇W + λW, so the weights stop growing
#: where the decay's pull λ‖W‖ balances the loss's gradient ‖∇W‖, fitted or not. An alert
#: where, at the latest epoch, every Dense layer's relative gradient ‖∇W‖/‖W‖ is at most
#: DECAY_COMPARABLE·λ (and at least SATURATED_UPDATE: units that pass gradient back), every
#: layer's ‖W‖ has stayed within DECAY_SETTLED of its latest over the last DECAY_EPOCHS epochs,
#: and the training accuracy (the better of the epoch's running one and the probe batch's,
#: dropout off) closes less than DECAY_FITTED of the gap from chance to 1. On scikit-learn's
#: digits (SGD at 0.3, standardised) λ = 0.1 settles ‖W‖ at 2.2 and 2.4 with ‖∇W‖/‖W‖ of
#: 0.10 and 0.20 (1-2λ), training accuracy 0.59 and test 0.52; λ = 0.03 and 0.01 also settle
#: at 1-2.6λ but fit (0.92-0.97: no alert); λ = 1e-3 and 1e-4, and the MNIST sample's default
#: network with λ up to 1e-3, keep growing ‖W‖ with ‖∇W‖/‖W‖ of 4-60λ. A regression is judged
#: by R² = 1 − loss / (the targets' variance) in place of accuracy: a 5-32-1 tanh network on
#: y = sin(2x₁) + x₂x₃ + x₃/2 (1,000 standard normal rows, SGD at 0.1, batch 32) reaches R² 0.94
#: at λ ≤ 1e-4 and 0.87 at λ = 0.03 (‖∇W‖/‖W‖ 2-7λ), but 0.19 at λ = 0.1 and 0.14 at 0.3, its
#: ‖W‖ 0.5-0.9 at 0.5-2λ. Mini-batch steps move such held weights by 5-20% from one epoch to
#: the next, so "settled" is no layer growing DECAY_SETTLED past its largest size of the epochs
#: before. AdamW's decoupled decay is held to DECOUPLED_SHARE of the step instead: λ = 10 at
#: α = 0.001 stops digits at training accuracy 0.62 (αλ = 0.01, update ratios 0.003-0.008), and
#: the regression above at R² 0.14 with λ = 3 at α = 0.01; the default λ = 0.01 fits both.
DECAY_COMPARABLE = 3.0
DECAY_SETTLED = 0.05
DECAY_EPOCHS = 3
DECAY_FITTED = 0.8

#: Weights too large: a hidden Dense layer feeding ReLU units whose outputs z have a root mean
#: square above this on the probe batch, and whose update ratio ‖ΔW‖/‖W‖ stays under
#: SATURATED_UPDATE for DECAY_EPOCHS epochs while the network is short of a fit (see
#: DECAY_FITTED). ReLU is linear above 0, so weights too large saturate nothing: they make every
#: step a small share of them. On the MNIST sample a 784-50-10 ReLU network from he_normal (or
#: scaled_normal(0.1)) has z of size 1.9-2.2 and moves its first layer by 1e-2 to 3e-2 a step
#: (training accuracy 0.96-0.98 by epoch 5); from scaled_normal(3), z of size 60, update ratios
#: of 4e-4 to 5e-4, and training accuracy 0.40-0.46 after five epochs, 0.63 after twenty
#: (test 0.54); scaled_normal(1) has z of size 17 and moves it by 1.2e-3 to 1.5e-3 while reaching
#: 0.87 (no alert).
LARGE_PREACTIVATION = 10.0
#: The units that pass a Dense layer's size on (linear above 0).
_LINEAR_ABOVE_0 = ("ReLU", "LeakyReLU")

#: Overfitting: training accuracy this far above validation accuracy (an absolute gap) in
#: each of the last OVERFIT_EPOCHS epochs. The seed-000 network on MNIST ends within 0.03; a
#: gap of 0.1 means it is learning the examples. One epoch is not enough: on a small
#: validation set one example moves its accuracy by 0.07 (15 rows of wine).
OVERFIT_GAP = 0.1
OVERFIT_EPOCHS = 2
#: ... and, where the validation rows are fewer than OVERFIT_EXACT_ROWS, a gap too large to be
#: their sampling noise: were each validation row right with the training accuracy's
#: probability a, at most this chance of scoring as few of them right (the binomial tail
#: P(X ≤ k | n, a), n rows and k right). The CLI's default split leaves iris 12 validation rows
#: and wine 15: one row is 0.08 and 0.07 of their accuracy, and healthy runs (test accuracy
#: 0.93-0.97) swing their validation accuracy from 0.67 to 1.0 between epochs, a gap of 0.10
#: to 0.22 (tails 0.03 to 0.08), while 50 rows of MNIST learned by heart score 0.40 of 1,000
#: validation rows against 0.60 (a tail of 1e-37).
OVERFIT_CHANCE = 0.01
#: From this many validation rows a gap of OVERFIT_GAP is at least six standard errors of
#: their accuracy (√(a(1 − a)/n) ≤ 0.5/√1000 = 0.016): no test needed.
OVERFIT_EXACT_ROWS = 1000
#: Nor is a gap overfitting while the validation loss still falls to a new low each epoch:
#: the network still generalises better with each epoch, and the fix's early stopping would
#: not stop. A fixed validation set can hold harder rows than the training set's average:
#: iris standardised, 38 of its rows held out, the network at training accuracy 0.92 and a
#: training loss of 0.48 scores 0.79 on them while their loss falls 0.550, 0.543, ... 0.518
#: over the last epochs (tanh with SGD at momentum 0.9: 0.79 at epoch 6, 0.97 at epoch 50).
#: Learned by heart, the validation loss rises from its low as the gap opens.

#: High momentum: SGD's momentum μ above this is named where a fix blames the step size.
#: Momentum adds up the steps of the last 1/(1 − μ) or so: on a steady gradient it moves the
#: weights 1/(1 − μ) times as far as α alone, 10× at the usual 0.9, 100× at 0.99 (the MNIST
#: sample's loss rises above its first epoch's at once with momentum 0.99 at lr 0.3).
HIGH_MOMENTUM = 0.9
#: Weight decay usual for L2 decay (SGD, AdaGrad, RMSprop, AdaDelta, Adam) and for AdamW's
#: decoupled decay (its default, multiplied by α each step), which a fix names where the decay
#: holds the weights near 0.
USUAL_DECAY = 1e-4
USUAL_DECOUPLED_DECAY = 0.01
#: AdamW's decay holds the weights near 0 where its share αλ of a weight's size is at least
#: this share of each Dense layer's whole step ‖ΔW‖/‖W‖. Adam's own step moves a weight by
#: about α at most, so the decay αλ|w| stops it at |w| ≲ 1/λ, where the two steps are of one
#: size: on the MNIST sample at λ = 100 (α = 0.001), αλ = 0.1 against update ratios of 0.06 to
#: 0.2, ‖W‖ 0.1 where it starts at 16; at the default λ = 0.01, αλ = 1e-5 against about 1e-3.
DECOUPLED_SHARE = 0.25


@dataclass(frozen=True)
class Alert:
    """One finding: the rule, the epoch it first held, the layer (None: the whole network),
    the evidence in numbers and the fix in the seeds' terms."""

    rule: str
    epoch: int
    layer: int | None
    evidence: str
    fix: str

    def __str__(self) -> str:
        return f"epoch {self.epoch}: {self.evidence}. Fix: {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Alert":
        return cls(str(data["rule"]), int(data["epoch"]), data.get("layer"), str(data["evidence"]), str(data["fix"]))


@dataclass(frozen=True)
class Context:
    """What the rules need beyond the history: the accuracy of always answering the most
    common class (None for regression) and whether the loss cancels an output sigmoid's σ'."""

    chance: float | None = None
    output_slope_cancelled: bool = True
    #: the chance level is the heaviest class's share of the sample weights, to be compared
    #: with the diagnostics' ``weighted_accuracy`` (unequal sample weights, see context_of)
    weighted_chance: bool = False
    #: a likelihood loss of classes: its value for predicting the class frequencies (the
    #: labels' entropy; with unequal sample weights, each class's share of the weights, under
    #: the weighted loss) and for giving every class the same probability (ln k); else None
    frequencies_loss: float | None = None
    uniform_loss: float | None = None
    #: squared error: its value for predicting the targets' mean ``ȳ`` in every row (for
    #: class rows, the class frequencies; with unequal sample weights, ``Σ w_i y_i / Σ w_i``
    #: under the weighted loss); else None
    mean_loss: float | None = None
    #: the loss on the probe batch before the run's first step (None: not measured, or a
    #: run resumed from a checkpoint that does not record it): a loss above guessing that was
    #: there before any step is the initial weights', not the learning rate's
    start_loss: float | None = None
    #: squared error on targets outside the output's range (:func:`unreachable_loss`): the
    #: output layer's index and type, the share of target values outside its range, the
    #: loss of the nearest outputs in range (a floor) and of always predicting the mean
    unreachable: tuple[int, str, float, float, float] | None = None
    #: the network's layers, one entry each (empty: not known): the layer's type, a Dense
    #: layer's with its initialiser ("Dense(he_normal)"), a leaky ReLU's of slope 0 as
    #: "LeakyReLU(0)" (a ReLU: its units with z ≤ 0 pass no gradient back); see :func:`layers_of`
    layers: tuple[str, ...] = ()
    #: whether the inputs reach the first Dense layer scaled (the network's own Rescaling or
    #: Standardization layer, or inputs within [−1, 1] or standardised, see :func:`scaled`);
    #: None: not known. The fixes advise scaling them only where they are not known scaled.
    scaled_inputs: bool | None = None
    #: the lowest loss the network's output can reach on class targets (0 but for a softmax
    #: of bounded values, see :func:`loss_floor`): the flat-loss rule measures the loss above it
    loss_floor: float = 0.0
    #: the run's optimizer (:func:`optimizer_settings`): its type ("SGD", "Adam", ...), its
    #: learning rate α at the start, SGD's momentum μ (None for the others) and its weight
    #: decay λ; each None where not known (diagnostics read back from files). The fixes that
    #: blame the step size name the momentum where it is high and fit AdaDelta's α of 1.
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    #: the run's limits (``fit``'s ``epochs`` and ``steps``; None: not known): the record of
    #: epoch ``run_epochs``, or the one that reaches ``run_steps`` steps, is its last
    run_epochs: int | None = None
    run_steps: int | None = None
    #: whose interface the fixes name: "cli" (the flags of ``deltaprop train`` and ``sweep``)
    #: or "api" (what a caller of ``fit`` passes: ``dp.SGD(lr=...)``, ``fit``'s ``epochs``,
    #: ``dp.Rescaling``; see :func:`in_python`). :func:`context_of` takes it from :func:`fixes_for`.
    interface: str = "cli"
    #: the highest rate of the network's Dropout layers (None: none, or not known); from
    #: HEAVY_DROPOUT on, the fixes that blame the steps name it first
    dropout: float | None = None
    #: the number of validation rows ``val_accuracy`` is scored on (None: not known); the
    #: overfitting rule asks a gap beyond their sampling noise (see OVERFIT_CHANCE)
    validation_rows: int | None = None
    #: the epoch whose weights the network ends with where early stopping restored them (its
    #: best), not the last; the rules' forms for the run's end judge that epoch's record
    #: (:func:`_restored`). None: the last epoch's weights
    restored_epoch: int | None = None


#: What a rule found: the layer (None: the whole network) and the evidence, and where the
#: fix depends on the network (its initialisation, its layers), the fix that fits it.
Finding = tuple[int | None, str] | tuple[int | None, str, str]


#: The interfaces whose words an alert's fix can be in (:attr:`Context.interface`).
INTERFACES = ("cli", "api")
#: The interface of the runs started here: "api" (a caller of ``fit``) unless the command line
#: said otherwise (:func:`fixes_for`).
_INTERFACE: ContextVar[str] = ContextVar("deltaprop_alert_interface", default="api")


def interface() -> str:
    """The interface the runs started here word their fixes for (:func:`fixes_for`)."""
    return _INTERFACE.get()


@contextlib.contextmanager
def fixes_for(interface: str):
    """Within it, :func:`context_of` (and so ``fit``'s alerts) words the fixes for
    ``interface``: "cli" (the command line runs ``fit`` so) or "api"."""
    if interface not in INTERFACES:
        raise ValueError(f"interface must be one of {INTERFACES}, got {interface!r}")
    token = _INTERFACE.set(interface)
    try:
        yield
    finally:
        _INTERFACE.reset(token)


#: The scaling a caller of ``fit`` does, for the command line's --scaling.
_PYTHON_SCALING = ("scale X before fit, e.g. X / 255 for 8-bit pixels, or begin the network with "
                   "dp.Rescaling(1/255) or dp.Standardization(mean, std)")


def in_python(text: str, ctx: Context) -> str:
    """An alert's words (written with the command line's flags) for a caller of ``fit``: each
    flag as the parameter that caller passes (``--lr`` as the optimizer's ``lr``, ``--scaling``
    as scaling X or a ``dp.Rescaling`` layer, ``--epochs`` and ``--batch-size`` as ``fit``'s,
    ``--loss cross_entropy`` as ``loss=dp.CrossEntropy()``, ...). The same rule, other words."""
    import re

    def setting(name: str, value: str | None = None) -> str:  # the run's own value where the words give none
        known = getattr(ctx, name)
        value = value or (None if known is None else f"{known:g}")
        if ctx.optimizer:
            return f"dp.{ctx.optimizer}({name}={value or '...'})"
        return f"the optimizer's {name}" + (f"={value}" if value else "")

    number = r"([0-9][0-9.e+-]*)"
    text = re.sub(r"adam, or sgd with a small --lr", "dp.Adam, or dp.SGD with a small lr", text)
    text = re.sub(rf"adam, or sgd with --lr {number}", r"dp.Adam, or dp.SGD(lr=\1)", text)
    text = re.sub(rf"lower --(momentum|weight-decay)(?: {number})?",
                  lambda m: f"lower the {m[1].replace('-', ' ')} ({setting(m[1].replace('-', '_'), m[2])})", text)
    text = re.sub(rf"--(lr|momentum|weight-decay)(?: {number})?",
                  lambda m: setting(m[1].replace("-", "_"), m[2]), text)
    for flag, words in (("(--scaling)", f"({_PYTHON_SCALING})"),
                        ("(--epochs)", "(fit's epochs)"),
                        ("(--batch-size:", "(fit's batch_size:"),
                        ("(--batch-size)", "(fit's batch_size)"),
                        ("(--schedule)", "(fit's schedule)"),
                        ("(--loss cross_entropy)", "(loss=dp.CrossEntropy())"),
                        ("(--output-activation identity)", "(output='identity' of dp.mlp)"),
                        ("(--output-activation)", "(output= of dp.mlp, or the network's last layers)"),
                        ("(--dropout)", "(dp.Dropout(rate) layers, or dropout= of dp.mlp)"),
                        ("(--early-stopping)", "(a dp.EarlyStopping callback)"),
                        ("(--init)", "(init= of dp.mlp or dp.Dense)"),
                        ("with --init", "with init= of dp.mlp or dp.Dense")):
        text = text.replace(flag, words)
    text = re.sub(r"\(--init ([a-z_]+)\)", r"(init='\1' of dp.mlp or dp.Dense)", text)
    return text


def _worded(alert: Alert, ctx: Context) -> Alert:
    """``alert`` in the words of ``ctx``'s interface (:func:`in_python` for "api")."""
    if ctx.interface != "api":
        return alert
    return dataclasses.replace(alert, evidence=in_python(alert.evidence, ctx), fix=in_python(alert.fix, ctx))


def _layers(record) -> list[dict]:
    return ((record or {}).get("diagnostics") or {}).get("layers") or []


def _weights(record) -> list[dict]:
    """The diagnostics of each Dense layer's W in the record."""
    return [p for p in ((record or {}).get("diagnostics") or {}).get("parameters", []) if p["name"].endswith(".W")]


def _relative_gradient(p: dict) -> float | None:
    return p["grad_norm"] / p["norm"] if p.get("norm") and p.get("grad_norm") is not None else None


def _gradient(p: dict) -> float:
    """A parameter's ‖∇θ‖; inf where it was not finite (recorded as None, or NaN)."""
    g = p.get("grad_norm")
    return g if g is not None and math.isfinite(g) else math.inf


def _fitted(record) -> bool:
    """Whether the network fits its training data: accuracy of FLAT_FITTED, or (without an
    accuracy) a loss of at most FLAT_FITTED_LOSS."""
    acc = record.get("accuracy")
    return acc >= FLAT_FITTED if acc is not None else record["loss"] <= FLAT_FITTED_LOSS


def _where(s: dict) -> str:
    return f"layer {s['index']} ({s['layer']})"


def _momentum(ctx: Context) -> str:
    """Words naming SGD's momentum where it is above HIGH_MOMENTUM (as ``ctx`` knows the
    optimizer), for a fix that blames the step size; else ""."""
    mu = ctx.momentum
    if ctx.optimizer != "SGD" or mu is None or not HIGH_MOMENTUM < mu < 1:
        return ""
    return (f" (momentum {mu:g} makes each step up to 1/(1 − μ) = {1 / (1 - mu):.0f} times α: lower --momentum "
            f"to {HIGH_MOMENTUM:g} first)")


def _adadelta(ctx: Context) -> bool:
    """Whether the run is AdaDelta's at its own α of 1 or less (where ``ctx`` knows it)."""
    return ctx.optimizer == "AdaDelta" and (ctx.lr is None or ctx.lr <= 1.0)


#: AdaDelta sizes each step from its running averages (α = 1 is part of the method): the fix
#: for steps too large or too small is another optimizer, not another α.
_ADADELTA = ("AdaDelta sizes each step from its own running averages (its usual lr of 1.0 is part of the method, "
             "not a rate to tune)")


def _lower_rate(ctx: Context, how: str = "") -> str:
    """"lower the learning rate (--lr)[, for example HOW smaller]" fitted to the optimizer:
    high momentum named; AdaDelta at its α of 1 told to use another optimizer, above it to
    come back to 1."""
    if ctx.optimizer == "AdaDelta" and ctx.lr is not None and ctx.lr > 1.0:
        return f"lower the learning rate (--lr {ctx.lr:g}) to AdaDelta's 1.0"
    if _adadelta(ctx) and ctx.optimizer is not None:
        return f"use an optimizer whose learning rate sets the step (adam, or sgd with a small --lr): {_ADADELTA}"
    return f"lower the learning rate (--lr){', for example ' + how + ' smaller' if how else ''}{_momentum(ctx)}"


def _raise_rate(ctx: Context, how: str = "") -> str:
    """"raise the learning rate (--lr)[, for example HOW larger]" fitted to the optimizer:
    AdaDelta below its α of 1 told to come back to 1, at 1 to train longer or use another."""
    if ctx.optimizer == "AdaDelta" and ctx.lr is not None and ctx.lr < 1.0:
        return f"raise the learning rate (--lr {ctx.lr:g}) to AdaDelta's 1.0"
    if ctx.optimizer == "AdaDelta":
        return f"train longer (--epochs) or use another optimizer (adam, or sgd with --lr 0.1): {_ADADELTA}"
    return f"raise the learning rate (--lr){', for example ' + how + ' larger' if how else ''}"


def _zero_slope(s: dict, ctx: Context) -> bool:
    """Whether layer ``s`` is a leaky ReLU of slope 0 (as ``ctx`` knows the network)."""
    return s.get("layer") == "LeakyReLU" and 0 <= s["index"] < len(ctx.layers) and ctx.layers[s["index"]] == "LeakyReLU(0)"


def dead_relu(records, ctx) -> list[Finding]:
    layers = _layers(records[-1])
    last = len(ctx.layers or layers) - 1  # the output layer, as ctx knows the network (else the record)
    found = []
    for s in layers:
        output = s["index"] == last
        # a leaky ReLU with z ≤ 0 everywhere still passes α times the gradient: not dead, unless α = 0
        if s.get("dead") is None or not (s.get("layer") == "ReLU" or _zero_slope(s, ctx)):
            continue
        if output and s["dead"] > 0:
            found.append((s["index"], f"{_where(s)}, the output: {s['dead']:.0%} of its units output 0 for every probe "
                                      "example (dead): the network never answers with those outputs (a class whose "
                                      "score is always 0 is never picked)", _DEAD_OUTPUT))
        elif not output and s["dead"] > DEAD_SHARE:
            found.append((s["index"], f"{_where(s)}{' of slope 0' if _zero_slope(s, ctx) else ''}: {s['dead']:.0%} of "
                                      f"its units output 0 for every probe example (dead){_he_start(s, ctx)}",
                          _dead_relu_fix(s, ctx)))
    return found


#: The fix for dead units of a ReLU output layer.
_DEAD_OUTPUT = ("end the network in an output that is not cut at 0 (--output-activation): softmax with cross_entropy "
                "for classes, identity for values; a dead output unit's gradient is 0, so nothing revives it, and "
                "under squared error on classes the zeros of each one-hot row pull every class's output below 0")


def _he_start(s: dict, ctx: Context) -> str:
    """Evidence that the Dense layer feeding layer ``s`` starts from He initialisation
    already (as ``ctx`` knows the network); else ""."""
    feeding = [(i, name) for i, name in enumerate(ctx.layers[: s["index"]]) if name.startswith("Dense(")]
    if feeding[-1:] and feeding[-1][1] == "Dense(he_normal)":
        return f", though layer {feeding[-1][0]} (Dense) feeding it started from He initialisation (he_normal)"
    return ""


def _dead_relu_fix(s: dict, ctx: Context) -> str:
    """The dead-ReLU fix for layer ``s``: He initialisation only where the Dense layer that
    feeds it does not start from it already (there the evidence says so); a slope above 0
    for a leaky ReLU of slope 0."""
    start = "" if _he_start(s, ctx) else "; initialise with He (he_normal) and zero biases (--init he_normal)"
    leak = ("give the leaky ReLU a slope above 0 (LeakyReLU(0.01)), which keeps a gradient for z < 0"
            if _zero_slope(s, ctx) else "use leaky_relu, whose slope keeps a gradient for z < 0")
    return (f"{_lower_rate(ctx)}: one large step can push z below 0 for every input, and a dead unit's gradient "
            f"is 0, so nothing revives it{start}; or {leak}")



def _feeding_weights(record, index: int) -> dict | None:
    """The diagnostics of the W of the nearest Dense layer before layer ``index``."""
    before = [p for p in _weights(record) if p.get("layer") is not None and p["layer"] < index]
    return max(before, key=lambda p: p["layer"], default=None)


def _last_update_ratio(records, feeding: dict | None) -> tuple[float | None, str]:
    """The update ratio of the parameter ``feeding`` (from the last record), and "" or the
    words " (at epoch K)" where the last record has none (an epoch a stop cut short, whose
    last step was not the one planned: the ratio of the latest record that has one)."""
    if feeding is None:
        return None, ""
    if feeding.get("update_ratio") is not None:
        return feeding["update_ratio"], ""
    for k in range(len(records) - 2, -1, -1):
        for p in _weights(records[k]):
            if p["name"] == feeding["name"] and p.get("update_ratio") is not None:
                return p["update_ratio"], f" (at epoch {int(records[k].get('epoch') or k + 1)})"
    return None, ""


def _faster_than_after(record, s: dict, ratio: float) -> bool:
    """Whether the update ratio ``ratio`` of the weights feeding layer ``s`` is larger than
    that of every Dense layer after it in ``record`` (False where there is none, or one
    without a ratio): its σ' does not slow it, see the note after :data:`STUCK_SHARE`."""
    after = [p.get("update_ratio") for p in _weights(record) if p.get("layer") is not None and p["layer"] > s["index"]]
    return bool(after) and all(r is not None and ratio > r for r in after)


def saturated(records, ctx) -> list[Finding]:
    layers = _layers(records[-1])
    found = []
    for s in layers:
        last = s["index"] == len(layers) - 1
        if last and ctx.output_slope_cancelled:
            continue  # cross-entropy's δ = a − y has no σ' factor: a confident output is fine
        # an output saturated at its target's end is fitted (a one-hot row's zeros), not slow: the
        # share of those off their targets' end, where recorded
        share = s.get("off_target") if last and s.get("off_target") is not None else s.get("saturated")
        if share is None or share <= SATURATED_SHARE:
            continue
        if _fitted(records[-1]):
            continue  # the network fits its data: nothing is left that learns too slowly
        feeding = _feeding_weights(records[-1], s["index"])
        ratio, when = _last_update_ratio(records, feeding)
        stuck = s.get("stuck")
        steps_put_it_there = stuck is not None and stuck > STUCK_SHARE
        if ratio is not None and ratio >= SATURATED_UPDATE and not steps_put_it_there:
            continue  # its weights still take large steps (an adaptive optimizer's, or a large rate)
        if ratio is not None and not when and not steps_put_it_there and _faster_than_after(records[-1], s, ratio):
            continue  # it learns faster than the layers its σ' does not reach: the step size sets the pace
        if ratio is not None and ratio >= SATURATED_UPDATE:
            moves = (f", {stuck:.0%} of its units on one flat end for every probe example (stuck), though layer "
                     f"{feeding['layer']} (Dense) feeding it moves its weights by {ratio:.1e} of their size a "
                     f"step{when}: the large steps put them there"
                     f"{_stuck_cause(ctx, s['index'])}")
        elif ratio is not None:
            moves = (f", and layer {feeding['layer']} (Dense) feeding it moves its weights by {ratio:.1e} of their "
                     f"size a step{when} (update ratio ‖ΔW‖/‖W‖ under {SATURATED_UPDATE:.0e}): it learns slowly")
        else:
            moves = ""
        which = " on the wrong side of their targets" if last and s.get("off_target") is not None else ""
        found.append((s["index"], f"{_where(s)}: {share:.0%} of its outputs{which} are saturated (σ' near 0){moves}",
                      _targets_first(_saturated_fix(s, ctx, stuck=ratio is not None and ratio >= SATURATED_UPDATE,
                                                    output=last), ctx)))
    return found


def _raw_inputs_feed(ctx: Context, index: int) -> bool:
    """Whether layer ``index`` is fed by the first Dense layer and the run's inputs are
    known not to be scaled (:attr:`Context.scaled_inputs` False): its weights' steps grow
    with the raw inputs."""
    return ctx.scaled_inputs is False and sum(name.startswith("Dense(") for name in ctx.layers[:index]) == 1


def _stuck_cause(ctx: Context, index: int) -> str:
    """The words after "the large steps put them there" in a stuck layer's evidence."""
    if _raw_inputs_feed(ctx, index):
        return " (on inputs that are not scaled)"
    return "" if _adadelta(ctx) and ctx.optimizer else " (lower the learning rate)"


def _saturated_fix(s: dict, ctx: Context, *, stuck: bool, output: bool = False) -> str:
    """The saturation fix for layer ``s`` that fits the run: a lower learning rate where the
    steps put its units there (``stuck``); a linear layer before a softmax that a sigmoid
    feeds; else cross-entropy for an ``output`` whose σ' the loss keeps (squared error),
    inputs scaled only where ``ctx`` does not know them scaled, smaller starting weights than
    the Dense layer feeding it starts from, and ReLU units for a hidden layer."""
    if stuck and _raw_inputs_feed(ctx, s["index"]):
        return ("scale the inputs to [0, 1] or standardise them (--scaling): the first layer's gradient δ·xᵀ grows "
                "with the inputs, so on unscaled inputs (0..255 pixels, say) its steps are as large, at any usual rate; "
                f"or {_lower_rate(ctx, '3-10×')}")
    if stuck:
        return f"{_lower_rate(ctx, '3-10×')}: the large steps drove the weights feeding its units to the flat ends"
    i = s["index"]
    after = ctx.layers[i + 1] if 0 <= i < len(ctx.layers) - 1 else ""
    if after == "Softmax" and s.get("layer") == "Sigmoid":
        return ("end the network in a linear layer and a softmax (output softmax, not sigmoid+softmax): the softmax "
                "pushes the sigmoid outputs it takes to their flat ends, σ' near 0, and a softmax of values in "
                "(0, 1) cannot give a class a probability near 1")
    fixes = []
    if output and not ctx.output_slope_cancelled:
        fixes.append("use cross-entropy instead of squared error (a softmax output with cross_entropy; "
                     "binary_cross_entropy for one sigmoid output of two classes): its δ = a − y has no σ' factor "
                     "(seed 003)")
    if not ctx.scaled_inputs:
        fixes.append("scale the inputs to [0, 1] or standardise them (--scaling)")
    feeding = [name for name in ctx.layers[:i] if name.startswith("Dense(")]
    init = feeding[-1][6:-1] if feeding else ""
    init = "scaled_normal(0.1)" if init == "scaled_normal" else init
    if init in ("glorot_uniform", "he_normal") and ctx.scaled_inputs:
        # z starts of size about 1 there: the steps, not the start, grew the weights to the flat ends
        fixes.append(f"{_lower_rate(ctx)}: from {init} on scaled inputs its units start off the flat "
                     "ends, so the steps grew the weights that put them there")
    elif init in ("glorot_uniform", "he_normal"):
        fixes.append(f"start from smaller weights than {init} (scaled_normal with a small scale, e.g. scaled_normal(0.01)) "
                     "with --init")
    elif init.startswith("scaled_normal"):
        glorot = "glorot_uniform, whose standard deviation is √(2/(n_in + n_out)), or "
        fixes.append(f"start from smaller weights than {init} ({glorot}scaled_normal with a smaller scale) with --init")
    else:
        fixes.append("start from smaller weights (glorot_uniform, or scaled_normal with a small scale) with --init")
    if not output:
        fixes.append("use ReLU hidden units")
    return "; ".join(fixes[:-1]) + "; or " + fixes[-1]


def _usual_start(ctx: Context) -> str:
    """The usual initialiser for the run's hidden units (as ``ctx`` knows them; both where it
    does not know the network)."""
    relu = any(name in ("ReLU", "LeakyReLU", "LeakyReLU(0)") for name in ctx.layers)
    squash = any(name in ("Sigmoid", "Tanh") for name in ctx.layers[:-1])
    if (relu and squash) or not ctx.layers:
        return "he_normal for ReLU, glorot_uniform for sigmoid and tanh"
    return "he_normal" if relu else "glorot_uniform"


def _inits(ctx: Context) -> list[str]:
    """The initialisers the run's Dense layers started from (the default scaled_normal's scale
    named), as ``ctx`` knows them."""
    names = {name[6:-1] for name in ctx.layers if name.startswith("Dense(")} - {"zeros", "copies"}
    return sorted("scaled_normal(0.1)" if name == "scaled_normal" else name for name in names)


def _start_fix(ctx: Context) -> str:
    """Smaller starting weights than the run's Dense layers start from (as ``ctx`` knows
    them), on scaled inputs where ``ctx`` does not know them scaled already."""
    inits = _inits(ctx)
    if inits and set(inits) <= {"he_normal", "glorot_uniform"}:
        weights = f"start from smaller weights than {' and '.join(inits)} (scaled_normal with a small scale) with --init"
    elif inits:
        weights = f"start from smaller weights than {' and '.join(inits)} ({_usual_start(ctx)}) with --init"
    else:
        weights = f"start from smaller weights ({_usual_start(ctx)}) with --init"
    return weights + ("" if ctx.scaled_inputs else " on inputs scaled to [0, 1] or standardised (--scaling)")


def vanishing_gradients(records, ctx) -> list[Finding]:
    params = _weights(records[-1])
    if len(params) < 2:
        return []
    first, last = params[0], params[-1]
    # the gradient, not the update: an adaptive optimizer (Adam, RMSprop) scales each weight's
    # step by its own gradient's size, so its update ratios stay close while δ vanishes
    what = "relative gradient ‖∇W‖/‖W‖"
    r0, r1 = _relative_gradient(first), _relative_gradient(last)
    if r0 is None or r1 is None:
        what = "update ratio ‖ΔW‖/‖W‖"
        r0, r1 = first.get("update_ratio"), last.get("update_ratio")
    if r0 is None or not r1 or not (math.isfinite(r0) and math.isfinite(r1)) or r0 >= VANISHING_RATIO * r1:
        return []
    if exploding_gradients(records, ctx):
        return []  # a layer far larger than the rest, not the first one vanishing
    if any(s.get("stuck") is not None and s["stuck"] > STUCK_SHARE and first["layer"] < s["index"] < last["layer"]
           for s in _layers(records[-1])):
        return []  # units stuck on a flat end cut δ off, not the depth: the saturated rule says so, and why
    return [(first["layer"], f"layer {first['layer']} (Dense, the first): its {what} is {r0:.1e}, "
                             f"{r0 / r1:.0e} of layer {last['layer']}'s {r1:.1e} (vanishing gradients)",
             _targets_first(_vanishing_fix(ctx), ctx))]


def _vanishing_fix(ctx: Context) -> str:
    """The vanishing-gradient fix for the run's hidden units (as ``ctx`` knows them): the
    rule's own for sigmoid units (or an unknown network); for tanh units, their slope; for
    others, the weights each δ is multiplied by, and He initialisation only where it is not used."""
    hidden = set(ctx.layers[:-1])
    if not ctx.layers or "Sigmoid" in hidden:
        return RULES["vanishing_gradients"][1]
    if "Tanh" in hidden:
        return ("δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ tanh'(zˡ) shrinks in every tanh layer whose outputs sit away from 0 "
                "(tanh' = 1 − a² < 1): use ReLU units with He initialisation (--init he_normal), or fewer layers")
    he = "he_normal" in _inits(ctx)
    return ("δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ σ'(zˡ) is multiplied by every layer's weights on its way back: "
            + ("use fewer layers, and look for dead units above" if he else
               "start from He initialisation (--init he_normal), which keeps its size from layer to layer, or use fewer "
               "layers"))


def _exploded(record, scale: float) -> dict[int, float]:
    """Each Dense layer whose ‖∇W‖ in ``record`` is at least EXPLODING_GRADIENT × ``scale``
    or not finite, with its multiple of ``scale``."""
    return {p["layer"]: _gradient(p) / scale for p in _weights(record) if _gradient(p) >= EXPLODING_GRADIENT * scale}


class _HistoryScan:
    """One pass over a run's records, each read once, keeping what the rules need of every
    prefix of them: the running minimums of the loss and the validation loss, and :func:`_overshooting`'s yardstick
    and crossed layers. A run's monitor is called each epoch with the same growing history,
    and :func:`cleared_by` asks about every shorter prefix of a finished one: a fresh pass
    for each call made a 10,000-epoch run's checks, and its report, quadratic in its length."""

    def __init__(self) -> None:
        self.seen: list[dict] = []  # the records read, in order (the same objects)
        self.best: list[float | None] = []  # best[k]: min() of the losses of records 0..k, in its order
        self.best_val: list[float] = []  # best_val[k]: the lowest finite val_loss of records 0..k (inf: none)
        self.base: int | None = None  # the yardstick's record, once one has a finite nonzero ‖∇W‖
        self.scale = 0.0
        self.crossed: dict[int, tuple[int, float]] = {}
        self._starts = [0]  # the prefix lengths from which each of self._states holds
        self._states: list[tuple[int, float, dict[int, tuple[int, float]]]] = [(0, 0.0, {})]

    def matches(self, records: Sequence[dict]) -> bool:
        """Whether ``records`` is a prefix of the records read, or begins with them (the same objects)."""
        n, m = len(records), len(self.seen)
        if n == 0 or m == 0:
            return True
        if records[0] is not self.seen[0]:
            return False
        return records[n - 1] is self.seen[n - 1] if n <= m else records[m - 1] is self.seen[-1]

    def read(self, records: Sequence[dict]) -> "_HistoryScan":
        for k in range(len(self.seen), len(records)):
            self._read(k, records[k])
        return self

    def overshooting(self, n: int) -> tuple[int, float, dict[int, tuple[int, float]]]:
        """:func:`_overshooting` of the first ``n`` records read."""
        base, scale, crossed = self._states[bisect.bisect_right(self._starts, n) - 1]
        return base, scale, dict(crossed)

    def best_loss(self, n: int) -> float:
        """``min()`` of the losses of the first ``n`` records read (n ≥ 1)."""
        return self.best[n - 1]

    def best_val_loss(self, n: int) -> float:
        """The lowest finite validation loss of the first ``n`` records read (inf: none)."""
        return self.best_val[n - 1] if n >= 1 else math.inf

    def _read(self, k: int, record: dict) -> None:
        before = (self.base, self.scale, len(self.crossed))
        val, low = record.get("val_loss"), self.best_val[-1] if self.best_val else math.inf
        self.best_val.append(val if val is not None and math.isfinite(val) and val < low else low)
        if self.base is None:
            norms = [_gradient(p) for p in _weights(record) if math.isfinite(_gradient(p))]
            if norms and max(norms) > 0:
                self.base, self.scale = k, max(norms)
        loss = record["loss"]
        best = self.best[-1] if self.best else None
        if self.base is not None:
            new = {layer: times for layer, times in _exploded(record, self.scale).items() if layer not in self.crossed}
            if new:
                low = math.inf if best is None else best
                falling = math.isfinite(loss) and loss <= low and all(math.isfinite(t) for t in new.values())
                if falling and not self.crossed:
                    self.base, self.scale = k, max(_gradient(p) for p in _weights(record))
                else:
                    self.crossed.update((layer, (k, times)) for layer, times in new.items())
        self.best.append(loss if best is None or loss < best else best)
        self.seen.append(record)
        if (self.base, self.scale, len(self.crossed)) != before:
            self._starts.append(k + 1)
            self._states.append((self.base, self.scale, dict(self.crossed)))


#: The scan of the run whose alerts are being checked (see :meth:`AlertMonitor.update`, :func:`standing`).
_RUN_SCAN: ContextVar[_HistoryScan | None] = ContextVar("deltaprop_history_scan", default=None)


def _scan(records: Sequence[dict]) -> _HistoryScan:
    """The run's scan where ``records`` are its records (or a prefix of them), read through
    them; else a fresh scan of ``records``."""
    scan = _RUN_SCAN.get()
    if scan is None or not scan.matches(records):
        scan = _HistoryScan()
    return scan.read(records)


@contextlib.contextmanager
def _scanning(scan: _HistoryScan | None = None):
    """Within the block, the rules read ``records`` through one scan (a new one by default)."""
    token = _RUN_SCAN.set(_HistoryScan() if scan is None else scan)
    try:
        yield
    finally:
        _RUN_SCAN.reset(token)


def _overshooting(records) -> tuple[int, float, dict[int, tuple[int, float]]]:
    """The yardstick (index of its record, the largest Dense ‖∇W‖ there) and each Dense layer
    whose ‖∇W‖ passed EXPLODING_GRADIENT × it (or stopped being finite), with the index of
    the record where it first did and its multiple there.

    The yardstick is the first epoch's, unless some layer passes the bound at an epoch whose
    loss falls to a new best before any layer has passed it with the loss up: that is a
    network leaving a plateau (small initial weights: every gradient grows by orders of
    magnitude as the loss falls), not steps that overshoot, and the largest gradient of that
    epoch becomes the yardstick."""
    return _scan(records).overshooting(len(records))


def exploding_gradients(records, ctx) -> list[Finding]:
    base, scale, crossed = _overshooting(records)
    now = _exploded(records[-1], scale) if crossed else {}
    crossed = {layer: at for layer, at in crossed.items() if layer in now}
    if not crossed:
        return []
    layer = min(crossed, key=lambda i: (crossed[i][0], -crossed[i][1]))  # the first past it; the most on a tie
    since = int(records[crossed[layer][0]].get("epoch") or crossed[layer][0] + 1)
    grad = next(_gradient(p) for p in _weights(records[-1]) if p["layer"] == layer)
    size = f"{grad:.3g}, {now[layer]:.3g}×" if math.isfinite(grad) else "not finite, against"
    epoch0 = int(records[base].get("epoch") or base + 1)
    return [(layer, f"layer {layer} (Dense): its gradient ‖∇W‖ is {size} the largest any Dense layer "
                    f"had at epoch {epoch0} ({scale:.3g}); it passed {EXPLODING_GRADIENT:.0f}× that first, at epoch "
                    f"{since} (exploding gradients)", _exploding_fix(ctx))]


def _exploding_fix(ctx: Context) -> str:
    """The exploding-gradient fix: a lower learning rate, clipping, and the usual starting
    weights and scaled inputs only where the run (as ``ctx`` knows it) lacks them."""
    fix = f"{_lower_rate(ctx, '10×')}: steps too large overshoot, and each overshoot grows the error the gradient carries back"
    if ctx.interface == "api":  # the command line has no gradient clipping: a callback does it
        fix += "; or clip the gradient's norm (a callback's on_gradients can rescale each step's gradients)"
    inits = set(_inits(ctx))
    usual = bool(inits) and inits <= {"he_normal", "glorot_uniform"}
    start = "" if usual else f"start from weights of the usual size ({_usual_start(ctx)}) with --init"
    inputs = "" if ctx.scaled_inputs else "inputs scaled to [0, 1] or standardised (--scaling)"
    if start and inputs:
        return f"{fix}; or {start} on {inputs}"
    return f"{fix}; or {start or 'use ' + inputs}" if start or inputs else fix


def _risen(loss: float, best: float, first: float) -> bool:
    """Whether ``loss`` lost ground against ``best``: EXPLODING_FACTOR times it and more than
    LOSS_FLOOR of the first epoch's loss above it."""
    return loss > EXPLODING_FACTOR * best and loss - best > LOSS_FLOOR * abs(first)


def _times(loss: float, best: float) -> str:
    return f"{loss / best:.1f}× " if best > 0 else ""


def exploding_loss(records, ctx) -> list[Finding]:
    n = len(records)
    if n < 2:
        return []
    first, last = records[0]["loss"], records[-1]["loss"]
    fix = f"{_lower_rate(ctx, '3-10×')}" if ctx.optimizer else RULES["exploding_loss"][1]
    if not math.isfinite(last):
        return [(None, f"the training loss is {last}", fix)]
    scan = _scan(records)
    best = scan.best_loss(n - 1)
    if _risen(last, best, first) and last > first:
        return [(None, f"the training loss rose to {last:.4g}, {_times(last, best)}its best so far ({best:.4g}) "
                       f"and above the first epoch's {first:.4g}", fix)]
    if n <= EXPLODING_EPOCHS:
        return []
    best = scan.best_loss(n - EXPLODING_EPOCHS)
    if not all(_risen(r["loss"], best, first) for r in records[-EXPLODING_EPOCHS:]):
        return []  # a spike that falls back within EXPLODING_EPOCHS epochs is no divergence
    return [(None, f"the training loss has stayed above {EXPLODING_FACTOR}× its best ({best:.4g}) for "
                   f"{EXPLODING_EPOCHS} epochs; it is {last:.4g} now", fix)]


def oscillating_loss(records, ctx) -> list[Finding]:
    floor = OSCILLATION_FLOOR * abs(records[0]["loss"])
    losses = [r["loss"] for r in records[-(OSCILLATION_WINDOW + 1):]]
    rises = sum(1 for a, b in zip(losses, losses[1:]) if b > a * (1 + OSCILLATION_STEP) and b - a > floor)
    if rises < OSCILLATION_RISES or all(b >= a for a, b in zip(losses, losses[1:])):
        return []  # a loss that only rises is diverging (exploding_loss), not oscillating
    fix = (RULES["oscillating_loss"][1] if not ctx.optimizer else f"{_lower_rate(ctx)}"
           f"{'' if _adadelta(ctx) else ', or decay it with a schedule'} (steps overshoot the minimum)")
    return [(None, f"the training loss rose by more than {OSCILLATION_STEP:.0%} in {rises} of the last "
                   f"{len(losses) - 1} epochs (oscillating)", fix)]


def _flat_window(records) -> int | None:
    """How many epoch-to-epoch changes the flat-loss window spans: at least FLAT_EPOCHS, and
    enough epochs for FLAT_STEPS steps where the records count steps, unless the steps are
    too small to learn (None: not enough yet)."""
    if len(records) <= FLAT_EPOCHS:
        return None
    last = records[-1].get("steps")
    ratios = [p.get("update_ratio") for p in _weights(records[-1])]
    tiny = bool(ratios) and all(r is not None and r < TINY_UPDATE for r in ratios)
    if last is None or tiny:
        return FLAT_EPOCHS  # records without step counts (older files), or steps that move nothing
    def short(k: int) -> bool:  # too few steps from record k to the last for the window
        start = records[k].get("steps")
        return start is not None and last - start < FLAT_STEPS

    # step counts only grow through a run (records without them come first), so the records
    # that may start the window form a prefix: bisect for its end, O(log n) an epoch, not a
    # scan back over FLAT_STEPS full-batch epochs
    latest = len(records) - 1 - FLAT_EPOCHS
    k = bisect.bisect_left(range(latest + 1), True, key=short)  # the first record too close
    return len(records) - k if k else None


def flat_loss(records, ctx) -> list[Finding]:
    window = _flat_window(records)
    if window is None:
        return []
    losses = [r["loss"] for r in records[-(window + 1):]]
    if _fitted(records[-1]):
        return []
    gradients = [_relative_gradient(p) for p in _weights(records[-1])]
    if gradients and all(g is not None and g < CONVERGED_GRADIENT for g in gradients):
        return []  # at a minimum: the loss cannot fall further
    floor = ctx.loss_floor if losses[-1] > ctx.loss_floor else 0.0  # a loss at its floor has nowhere to go
    if max(losses) - min(losses) > FLAT_CHANGE * max(abs(losses[-1] - floor), 1e-12):
        return []
    steps = ""
    if records[-1].get("steps") is not None and records[-1 - window].get("steps") is not None:
        steps = f", {records[-1]['steps'] - records[-1 - window]['steps']:,} steps"
    scale = "" if ctx.scaled_inputs else ", and scale inputs to [0, 1] or standardise them (--scaling)"
    within = (f"within {FLAT_CHANGE:.1%} of its excess over {floor:.4g}, the lowest its output reaches"
              if floor else f"within {FLAT_CHANGE:.1%}")
    decay = _decay_pull(records[-1], ctx)
    if decay:
        return [(None, f"the training loss has stayed at {losses[-1]:.4g} ({within}) for {window} epochs{steps}{decay}",
                 _decay_fix(ctx))]
    decayed = _decayed(records[-1], ctx)
    if decayed:
        return [(None, f"the training loss has stayed at {losses[-1]:.4g} ({within}) for {window} epochs{steps}{decayed}",
                 "decay the learning rate more slowly or to a higher floor (--schedule: a larger gamma, a longer "
                 "step_size or t_max, a min_lr), or train with the constant rate the run started at")]
    tiny = ("raise the learning rate" if not ctx.optimizer else _raise_rate(ctx)) + " if every step is tiny"
    return [(None, f"the training loss has stayed at {losses[-1]:.4g} ({within}) for {window} epochs{steps}",
             f"the network has stopped learning: check the alerts above for dead or saturated units, {tiny}{scale}")]


#: A schedule that has lowered the learning rate under this share of the run's starting rate
#: is named where the loss stays flat: the steps it leaves are too small to learn (exponential
#: decay with gamma 0.01 takes SGD's 0.3 to 3e-11 by epoch 6, and the loss stops at 0.52).
DECAYED_SHARE = 1e-2


def _decayed(record, ctx: Context) -> str:
    """Evidence that a schedule has lowered the learning rate of ``record`` under
    DECAYED_SHARE of the rate the run started at (as ``ctx`` knows it); else ""."""
    lr = record.get("lr")
    if not ctx.lr or lr is None or not lr < DECAYED_SHARE * ctx.lr:
        return ""
    return (f"; the schedule has lowered the learning rate to {lr:.2g}, {lr / ctx.lr:.0e} of the {ctx.lr:g} the run "
            "started at: its steps are too small to learn")


def _run_ends(record, ctx: Context) -> bool:
    """Whether ``record`` is the run's last, by its limits as ``ctx`` knows them."""
    epoch, steps = record.get("epoch"), record.get("steps")
    return ((ctx.run_epochs is not None and epoch is not None and epoch >= ctx.run_epochs)
            or (ctx.run_steps is not None and steps is not None and steps >= ctx.run_steps))


def _updates(records) -> str:
    """How many updates the run took, in words (one an epoch: a full batch)."""
    steps = records[-1].get("steps")
    if steps is None:
        return f"{len(records)} epoch{'s' if len(records) != 1 else ''}"
    epochs = int(records[-1].get("epoch") or len(records))
    each = " (one an epoch: a full batch)" if steps == epochs and steps > 1 else ""
    return (f"{epochs} epoch{'s' if epochs != 1 else ''}, only {steps} update{'s' if steps != 1 else ''}{each}")


def _restored(rule: Rule, records, ctx: Context) -> list[Finding] | None:
    """What ``rule`` finds at the run's end where early stopping restored an earlier epoch's
    weights (``ctx.restored_epoch``): judged on the records through that epoch, as that
    epoch ended the run, the evidence naming it; None where the last epoch's weights are
    the network's, or the last record is not the run's end."""
    best = ctx.restored_epoch
    last = int(records[-1].get("epoch") or len(records))
    if best is None or best >= last or not _run_ends(records[-1], ctx):
        return None
    upto = [r for k, r in enumerate(records) if int(r.get("epoch") or k + 1) <= best]
    if not upto:
        return None
    there = dataclasses.replace(ctx, run_epochs=best, run_steps=None, restored_epoch=None)
    return [(found[0], f"at epoch {best}, whose weights early stopping restored (the run went on to epoch {last}): "
                       f"{found[1]}", *found[2:]) for found in rule(upto, there)]


def chance_accuracy(records, ctx) -> list[Finding]:
    restored = _restored(chance_accuracy, records, ctx)
    if restored is not None:
        return restored
    acc, steps = records[-1].get("accuracy"), records[-1].get("steps")
    if ctx.weighted_chance:
        acc = ((records[-1] or {}).get("diagnostics") or {}).get("weighted_accuracy")
    few = steps < CHANCE_STEPS if steps is not None else len(records) < CHANCE_EPOCHS
    if (len(records) < CHANCE_EPOCHS or few) and not _run_ends(records[-1], ctx):
        return []  # too early to judge, and the run goes on
    if ctx.chance is None:
        return _mean_guess(records, ctx)
    if not at_chance(acc, ctx.chance) or (not _run_ends(records[-1], ctx) and _learning_past_guess(records, ctx)):
        return []
    undropped = _probe(records[-1], "accuracy")
    if "Dropout" in ctx.layers and not ctx.weighted_chance and undropped is not None and not at_chance(undropped, ctx.chance):
        return []  # the running accuracy is the thinned networks' (dropout on); the network itself has learned
    if ctx.weighted_chance:
        said = (f"training accuracy weighted by the sample weights (Σ w_i [ŷ_i = y_i] / Σ w_i on the probe batch) "
                f"is {acc:.3f} after {{}}; always answering the class with the largest share of the weights scores "
                f"{ctx.chance:.3f} (chance)")
    else:
        said = (f"training accuracy is {acc:.3f} after {{}}; always answering the most common class of the training "
                f"labels scores {ctx.chance:.3f} (chance)")
    if few:
        if any(name != "chance_accuracy" and rule(records, ctx) for name, (rule, _) in RULES.items()):
            return []  # another rule names what is wrong (units that are copies, dead, saturated): not the count
        loss_fix = _squared_error_output(ctx)
        return [(None, said.format(_updates(records)) + f": the run ended after too few updates to learn (this rule "
                       f"judges other runs from {CHANCE_STEPS} updates on)",
                 f"train for more updates, at least {CHANCE_STEPS}: more epochs (--epochs), or a smaller batch "
                 "(--batch-size: an epoch of n rows takes n/batch updates, a full batch one)"
                 + (f"; {loss_fix}" if loss_fix else "") + "; and check that the labels belong to the inputs")]
    fix = _chance_fix(records[-1], ctx, records)
    return [(None, said.format(f"{len(records)} epochs") + _chance_evidence(records[-1], ctx) + _heavy_dropout(ctx),
             _dropout_first(fix, ctx) if _heavy_dropout(ctx) else fix)]


def _learning_past_guess(records, ctx: Context) -> bool:
    """Whether the training loss is below that of predicting the class frequencies and still falls."""
    loss = records[-1].get("loss")
    below = ctx.frequencies_loss is not None and loss is not None and loss < ctx.frequencies_loss
    return below and bool(_still_falling(records))


def _mean_guess(records, ctx: Context) -> list[Finding]:
    """chance_accuracy for real-valued targets under squared error: a training loss that closes
    less than CHANCE_MARGIN of the gap from always predicting the targets' mean (``ctx.mean_loss``,
    their variance) to 0, R² = 1 − loss / mean under CHANCE_MARGIN on the training rows. Where
    loss_above_guess or output_range speaks already (a loss far above the mean's, targets out
    of the output's reach), it adds nothing. A weight decay that holds the weights near 0
    (:func:`_decay_pull`) is named as chance_accuracy names it for classes."""
    loss, mean = records[-1]["loss"], ctx.mean_loss
    if mean is None or not mean > 0 or not math.isfinite(loss) or loss < (1 - CHANCE_MARGIN) * mean:
        return []
    if output_range(records, ctx) or loss_above_guess(records, ctx):
        return []
    explained = 1.0 - loss / mean
    steps = records[-1].get("steps")
    after = (_updates(records) if steps is None or steps < CHANCE_STEPS
             else f"{len(records)} epochs ({steps:,} updates)")
    evidence = (f"the training loss is {loss:.4g} after {after}, {loss / mean:.2f}× the {mean:.4g} of always "
                f"predicting the targets' mean: the network explains {max(explained, 0.0):.0%} of the targets' variance "
                f"(R² = 1 − loss / {mean:.4g} = {explained:.2f} on the training rows), no better than that constant"
                + _chance_evidence(records[-1], ctx))
    return [(None, evidence, _mean_guess_fix(records, ctx))]


#: Targets whose variance is above this (a spread of 10) are far larger than the outputs a
#: network starts with (about 1): each step moves the outputs a little of the way to them.
LARGE_TARGETS = 100.0


def _large_targets(ctx: Context) -> bool:
    """Whether squared error on real-valued targets starts far larger than LARGE_TARGETS: their
    variance, or the loss of the outputs the run starts from (targets far from 0 with a small spread)."""
    sizes = (ctx.mean_loss, ctx.start_loss)
    return ctx.chance is None and ctx.mean_loss is not None and any(v is not None and v > LARGE_TARGETS for v in sizes)


def _targets_first(fix: str, ctx: Context) -> str:
    """``fix`` after scaling targets far larger than the outputs (:func:`_large_targets`),
    which comes first: squared error's gradient 2(a − y) is of the targets' size, so the first
    steps throw the weights as far, saturating the units and shrinking the gradients behind them."""
    if not _large_targets(ctx):
        return fix
    size = max(v for v in (ctx.mean_loss, ctx.start_loss) if v is not None)
    return (f"scale the targets first: fit on (y − y.mean()) / y.std() and map the predictions back (× std + mean); "
            f"squared error starts at {size:.4g} on them, so its gradient 2(a − y) is far larger than the outputs and "
            f"the first steps throw the weights as far; if the alert still holds then, {fix}")


def _mean_guess_fix(records, ctx: Context) -> str:
    """The fix of a regression no better than predicting the mean: a higher rate where the steps
    are too small, scaled targets where they start far from the outputs, a longer run where the
    loss still falls; and always the check that the targets belong to the inputs."""
    check = "; and check that the targets belong to the inputs"
    if _decay_pull(records[-1], ctx):
        return _decay_fix(ctx)
    if _tiny_steps(records[-1]):
        return f"{_raise_rate(ctx, '10-100×')}: every step moves the weights too little to learn{check}"
    far = ctx.start_loss is not None and ctx.start_loss > LOSS_ABOVE_GUESS * ctx.mean_loss
    if far or ctx.mean_loss > LARGE_TARGETS:
        return (f"scale the targets: fit on (y − y.mean()) / y.std() and map the predictions back (× std + mean): "
                f"their variance is {ctx.mean_loss:.4g}, and they lie far from where the outputs start, and each step "
                f"moves the outputs a little of the way{check}")
    falling = _still_falling(records)
    if falling:
        return f"the loss still falls ({falling}): train longer (--epochs) or {_raise_rate(ctx)}{check}"
    return (f"look for dead or saturated units above, scale the inputs and the targets, try another learning rate "
            f"(--lr){check}")


def _chance_evidence(record, ctx: Context) -> str:
    """What the chance-accuracy alert adds to its evidence: the weight decay's pull where it
    holds the weights near 0 (:func:`_decay_pull`), else steps too small (:func:`_tiny_steps`)."""
    return _decay_pull(record, ctx) or _tiny_steps(record, ctx)


def _chance_fix(record, ctx: Context = Context(), records=None) -> str:
    """The chance-accuracy fix: a weaker weight decay where the decay holds the weights near 0
    (:func:`_decay_pull`); cross-entropy where squared error keeps a softmax or sigmoid
    output's slope (:func:`_squared_error_output`); a higher learning rate where the steps are
    too small to learn (:func:`_tiny_steps`), after the saturated or dead units where a layer
    has them; a longer run where the loss still falls (:func:`_still_falling`: a lower rate
    would slow it further); else the rule's own (the step size's advice fitted to the optimizer)."""
    if _decay_pull(record, ctx):
        return _decay_fix(ctx)
    loss_fix = _squared_error_output(ctx)
    if loss_fix:
        tiny = f"; and {_raise_rate(ctx)}" if _tiny_steps(record) else ""
        return f"{loss_fix}{tiny}; and check that the labels belong to the inputs"
    if not _tiny_steps(record):
        falling = _still_falling(records or [record])
        if falling and not _stalled(record):
            return (f"the loss still falls ({falling}), too slowly to leave chance: train longer (--epochs) or "
                    f"{_raise_rate(ctx)}, not lower it; and check that the labels belong to the inputs")
        if not ctx.optimizer:
            return RULES["chance_accuracy"][1]
        lower = "try a lower learning rate" if not (_adadelta(ctx) or _momentum(ctx)) else _lower_rate(ctx)
        return (f"the network is guessing: look for dead, saturated or identical units above, {lower}, "
                "and check that the labels belong to the inputs")
    if _stalled(record):  # a larger rate on units that pass little back: fix those first
        return ("fix the saturated or dead units first (see the alerts above: they pass little gradient back), then "
                f"{_raise_rate(ctx)} if every step still moves the weights too little to learn; and check "
                "that the labels belong to the inputs")
    return (f"{_raise_rate(ctx, '10-100×')}: every step moves the weights too little to "
            "learn; and check that the labels belong to the inputs")


def _stalled(record) -> bool:
    """Whether a layer of ``record`` has most of its outputs saturated or dead."""
    return any((s.get("saturated") or 0) > SATURATED_SHARE or (s.get("dead") or 0) > DEAD_SHARE
               for s in _layers(record))


#: A loss "still falls" where it fell by more than this share in each of the last
#: FALLING_EPOCHS epoch-to-epoch changes (ten times FLAT_CHANGE: a flat loss's noise is not a fall).
FALLING_CHANGE = 1e-2
FALLING_EPOCHS = 2


def _still_falling(records) -> str:
    """Words saying the training loss fell by more than FALLING_CHANGE in each of the last
    FALLING_EPOCHS epoch-to-epoch changes ("2.0 to 1.8 over the last 2 epochs"); else ""."""
    losses = [r.get("loss") for r in records[-(FALLING_EPOCHS + 1):]]
    if len(losses) <= FALLING_EPOCHS or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in losses):
        return ""
    if not all(b < a - FALLING_CHANGE * abs(a) for a, b in zip(losses, losses[1:])):
        return ""
    return f"{losses[0]:.4g} to {losses[-1]:.4g} over the last {FALLING_EPOCHS} epochs"


def _squared_error_output(ctx: Context) -> str:
    """The fix where the run's loss is squared error on a softmax or sigmoid output (as
    ``ctx`` knows the run): cross-entropy, whose δ = a − y for the output's logits has no factor
    of its slope. Through a softmax of k outputs, ∂a_i/∂z_j = a_i(δ_ij − a_j), squared error's
    ∂L/∂z = 2 a ⊙ ((a − y) − Σ_j a_j(a_j − y_j)), about (2/k)(a − y) where every a_j is near
    1/k (the start): 2/k of cross-entropy's, and near 0 for a class given a probability near 0
    or 1. "" for other runs."""
    if ctx.output_slope_cancelled or not ctx.layers:
        return ""
    if ctx.layers[-1] == "Softmax":
        return ("use cross-entropy instead of squared error (--loss cross_entropy): through a softmax of k classes, "
                "each near 1/k at the start, squared error passes the logits about (2/k)(a − y), 2/k of "
                "cross-entropy's a − y (1/5 for ten classes), and next to nothing for a class the softmax gives a "
                "probability near 0 or 1 (its slope a(1 − a)), so the network can stay at chance where cross-entropy "
                "learns")
    if ctx.layers[-1] == "Sigmoid":
        return ("use cross-entropy instead of squared error (binary_cross_entropy for sigmoid outputs, or a softmax "
                "output with cross_entropy): squared error's δ = 2(a − y)σ'(z) carries the sigmoid's slope σ' ≤ 1/4, "
                "near 0 on its flat ends (seed 003), where cross-entropy's is a − y")
    return ""


def _decay_pull(record, ctx: Context) -> str:
    """Evidence that the weight decay λ, not the loss, sets the weights: for every Dense
    layer, under L2 decay (the gradient followed is ∇W + λW) ``λ‖W‖ ≥ ‖∇W‖`` while the loss's
    own gradient is not small (``‖∇W‖/‖W‖ ≥ SATURATED_UPDATE``: units that pass gradient back,
    so the loss would move them, and λ above it); under AdamW's decoupled decay (each step
    multiplies W by 1 − αλ, Adam's own step moves a weight by about α at most) the decay's
    share αλ at least DECOUPLED_SHARE of the update ratio ‖ΔW‖/‖W‖. "" where it does not hold
    or ``ctx`` does not know the decay."""
    lam, params = ctx.weight_decay, _weights(record)
    if not lam or not params or any(not p.get("norm") for p in params):
        return ""
    norms = ", ".join(f"{p['norm']:.2g}" for p in params)
    if ctx.optimizer == "AdamW":
        ratios = [p.get("update_ratio") for p in params]
        if ctx.lr is None or any(r is None or not ctx.lr * lam >= DECOUPLED_SHARE * r for r in ratios):
            return ""
        return (f"; weight decay {lam:g} shrinks every weight by αλ = {ctx.lr * lam:.2g} of its size each step, at "
                f"least {DECOUPLED_SHARE:.0%} of each Dense layer's whole step (update ratio ‖ΔW‖/‖W‖ at most "
                f"{max(ratios):.2g}): it holds their weights near 0 (‖W‖ {norms})")
    gradients = [_relative_gradient(p) for p in params]
    if any(g is None or not SATURATED_UPDATE <= g <= lam for g in gradients):
        return ""
    return (f"; weight decay {lam:g} pulls each Dense layer's weights towards 0 by λ‖W‖, at least the loss's "
            f"gradient ‖∇W‖ (‖∇W‖/‖W‖ at most {max(gradients):.2g}, under λ): it holds them near 0 (‖W‖ {norms})")


def _decay_fix(ctx: Context) -> str:
    """The fix where the weight decay holds the weights near 0: the usual decay for the optimizer."""
    usual = USUAL_DECOUPLED_DECAY if ctx.optimizer == "AdamW" else USUAL_DECAY
    return (f"lower the weight decay (--weight-decay {ctx.weight_decay:g}) to a usual {usual:g}, or 0: a decay this "
            "strong pulls every weight to 0 harder than the loss moves it, so the network cannot learn")


def _tiny_steps(record, ctx: Context = Context()) -> str:
    """Evidence that the steps, not the gradients, are too small: every Dense layer's update
    ratio ‖ΔW‖/‖W‖ under SATURATED_UPDATE while its relative gradient ‖∇W‖/‖W‖ is not (under
    SGD ‖ΔW‖ = α‖∇W‖, so the learning rate α is the small factor); else ""."""
    params = _weights(record)
    ratios = [p.get("update_ratio") for p in params]
    gradients = [_relative_gradient(p) for p in params]
    if not params or any(r is None or not r < SATURATED_UPDATE for r in ratios):
        return ""
    if any(g is None or not g >= SATURATED_UPDATE for g in gradients):
        return ""  # the gradients are small too (dead or saturated units): a larger rate would not help
    return (f"; every Dense layer moves its weights by at most {max(ratios):.1e} of their size a step (update "
            f"ratio ‖ΔW‖/‖W‖ under {SATURATED_UPDATE:.0e}) though its gradient is not small (‖∇W‖/‖W‖ at least "
            f"{min(gradients):.1e}): the steps are too small to learn "
            f"({'raise the learning rate' if not ctx.optimizer else _raise_rate(ctx)})")


#: How loss_above_guess names the frequencies of a run with unequal sample weights.
_WEIGHTED = ", each class's share of the sample weights,"


def loss_above_guess(records, ctx) -> list[Finding]:
    """A loss above guessing (LOSS_ABOVE_GUESS), its fix led by the dropout rate where it is heavy."""
    found = _above_guess(records, ctx)
    if not found or not _heavy_dropout(ctx):
        return found
    return [(f[0], f[1] + _heavy_dropout(ctx), _dropout_first(f[2] if len(f) > 2 else RULES["loss_above_guess"][1], ctx))
            for f in found]


#: Heavy dropout: from this rate on, the units a step keeps (1 − rate of them) are too few for
#: the thinned networks to learn at all, so the rate comes before the steps. At --dropout
#: 0.99 on scikit-learn's digits a 64-50-10 network keeps half a hidden unit a step: its
#: training loss is 5.5 after one epoch, 2.4× ln 10, and 5.4 with dropout off (the probe batch):
#: dropout's check (:func:`_dropout_loss`) cannot clear the steps, and the learning rate was blamed.
HEAVY_DROPOUT = 0.9


def _heavy_dropout(ctx: Context) -> str:
    """Evidence of a dropout rate of at least HEAVY_DROPOUT (as ``ctx`` knows it); else ""."""
    if ctx.dropout is None or not ctx.dropout >= HEAVY_DROPOUT:
        return ""
    return (f"; yet dropout {ctx.dropout:g} keeps only {1 - ctx.dropout:.0%} of the hidden units at each step, too "
            "few for the thinned networks to learn, whatever the steps")


def heavy_dropout(records, ctx) -> list[Finding]:
    """A dropout rate of HEAVY_DROPOUT or more on a network still short of a fit after
    DECAY_EPOCHS epochs (:func:`_short_of_fit`, dropout off on the probe batch): the thinned
    networks each step trains are too small. At chance, chance_accuracy names the rate first."""
    if not _heavy_dropout(ctx) or len(records) < DECAY_EPOCHS:
        return []
    short = _short_of_fit(records[-1], ctx)
    if not short:
        return []
    dropouts = [k for k, name in enumerate(ctx.layers) if name == "Dropout"]
    where = dropouts[0] if dropouts else None
    running = records[-1].get("accuracy")
    thinned = (f"; the thinned networks the steps train score {running:.3f} (the epoch's running accuracy)"
               if running is not None and ctx.chance is not None else "")
    named = ("the Dropout layers" if where is None else f"layer {where} (Dropout)"
             + (f" and the {len(dropouts) - 1} after it" if len(dropouts) > 1 else ""))
    return [(where, f"{named}: dropout {ctx.dropout:g} keeps only {1 - ctx.dropout:.0%} of the hidden units at each "
                    f"step, and after {len(records)} epochs {short} with dropout off{thinned}: too few units are left "
                    "each step to learn the training rows (heavy dropout)",
             f"lower the dropout rate (--dropout) from {ctx.dropout:g} to 0.5 or less: each step trains a network of "
             f"{1 - ctx.dropout:.0%} of the hidden units, which learns too little to fit, whatever the learning rate")]


def _dropout_first(fix: str, ctx: Context) -> str:
    """``fix`` after lowering a heavy dropout rate, which comes first."""
    if fix.startswith("lower the dropout rate"):
        return fix
    return (f"lower the dropout rate (--dropout) from {ctx.dropout:g} to 0.5 or less first: with so few units kept "
            f"each step no learning rate lets the network learn; if the alert still holds then, {fix}")


def _above_guess(records, ctx) -> list[Finding]:
    if ctx.uniform_loss is None and ctx.mean_loss is not None:
        if _dropout_loss(records[-1], ctx, LOSS_ABOVE_GUESS * ctx.mean_loss):
            return []  # dropout's thinned networks, not the steps (chance_accuracy speaks where they guess)
        return _squared_error_above_guess(records[-1]["loss"], ctx, records[-1].get("steps"))
    loss, uniform = records[-1]["loss"], ctx.uniform_loss
    if uniform is None or ctx.frequencies_loss is None or not math.isfinite(loss) or loss <= LOSS_ABOVE_GUESS * uniform:
        return []
    said = (f"the training loss is {loss:.4g}, {loss / uniform:.1f}× the {uniform:.4g} of giving every class "
            f"the same probability (predicting the class frequencies{_WEIGHTED if ctx.weighted_chance else ''} scores "
            f"{ctx.frequencies_loss:.4g})")
    dropped = _dropout_loss(records[-1], ctx, LOSS_ABOVE_GUESS * uniform)
    if dropped:
        return [(None, said + dropped, _DROPOUT_FIX)]
    start = ctx.start_loss
    if start is not None and math.isfinite(start) and start > LOSS_ABOVE_GUESS * uniform:
        if loss <= EXPLODING_FACTOR * start:
            return [(None, f"{said}; it was {start:.4g} on the probe batch before the first step: the initial weights "
                           f"{'are' if ctx.scaled_inputs else 'or the inputs are'} too large, not the steps",
                     f"keep the learning rate and {_start_fix(ctx)}")]
        # the start was above guessing, but the steps took the loss far above even that
        return [(None, f"{said}; it was {start:.4g} on the probe batch before the first step and the steps raised it "
                       f"{loss / start:.1f}× since: the steps are too large, and the initial weights or the inputs too",
                 f"{_lower_rate(ctx, '10-100×')}, and {_start_fix(ctx)}")]
    return [(None, f"{said}: the steps are too large for the network to learn even how common each class is",
             _steps_fix(ctx))]


#: The fix where dropout, not the steps, sets the training loss and accuracy.
_DROPOUT_FIX = ("lower the dropout rate (--dropout): the units it drops at each step leave too few to compute the "
                "answer, so the training loss and accuracy (measured with dropout on) say how the thinned networks do, "
                "not the network that predicts; the learning rate is not the cause")


def _dropout_loss(record, ctx: Context, bound: float) -> str:
    """Evidence that dropout, not the steps, holds the training loss (measured with dropout on)
    above ``bound``: the network has Dropout layers (as ``ctx`` knows it) and, with dropout off,
    its loss on the probe batch is at most ``bound``; else ""."""
    probe = _probe(record, "loss")
    if "Dropout" not in ctx.layers or probe is None or not probe <= bound:
        return ""
    return (f", measured with dropout on; with dropout off the network's loss on the probe batch of training rows is "
            f"{probe:.4g}, under that: the dropout rate, not the steps, raises it")


def _steps_fix(ctx: Context) -> str:
    """loss_above_guess's fix where the steps raised the loss."""
    return (f"{_lower_rate(ctx, '10-100×')}: a loss that rose this far above guessing is the "
            f"{'step size' if _adadelta(ctx) and ctx.optimizer else 'learning rate'}, not the initialisation or the "
            "depth, even where other alerts see saturated units or vanishing gradients")


def _squared_error_above_guess(loss: float, ctx: Context, steps: int | None = None) -> list[Finding]:
    """loss_above_guess under squared error, the guess being the targets' mean in every row.
    A start above it is no finding while the loss stays within EXPLODING_FACTOR of that start:
    saturated sigmoid outputs start there on one-hot rows (seed 001's MNIST network: 3.8
    against 0.90) and the loss falls from it; the saturated rule speaks of those units. On
    real-valued targets and an output that is not squashed, one still above half its start
    after ``steps`` ≥ CHANCE_STEPS updates is :func:`_far_targets`."""
    mean, start = ctx.mean_loss, ctx.start_loss
    if not (mean > 0 and math.isfinite(loss) and loss > LOSS_ABOVE_GUESS * mean):
        return []  # constant targets (a guess of 0) say nothing of the steps
    said = (f"the training loss is {loss:.4g}, {loss / mean:.1f}× the {mean:.4g} of always predicting the targets' "
            "mean (for class targets, the class frequencies)")
    if start is None or not math.isfinite(start) or start <= LOSS_ABOVE_GUESS * mean:
        return [(None, f"{said}: the steps are too large for the network to learn even the targets' mean",
                 _steps_fix(ctx))]
    if loss <= EXPLODING_FACTOR * start:
        return _far_targets(said, loss, ctx, steps)
    return [(None, f"{said}; it was {start:.4g} on the probe batch before the first step and the steps raised it "
                   f"{loss / start:.1f}× since: the steps are too large, and the initial outputs far from the "
                   "targets too",
             f"{_lower_rate(ctx, '10-100×')}, and {_start_fix(ctx)}")]


def _far_targets(said: str, loss: float, ctx: Context, steps: int | None) -> list[Finding]:
    """Real-valued targets far from where an unbounded output starts (prices of 1e6 against
    outputs near 0): the loss stays near its start, many times the targets' spread, while
    each step moves the output a little of the way (Adam at lr 0.001 on targets of mean 3e6:
    7.84e13 after 2,000 updates against 1.96e13 for the mean, predictions 6..73)."""
    if ctx.chance is not None or not ctx.output_slope_cancelled or steps is None or steps < CHANCE_STEPS:
        return []  # class targets, a squashed output (output_range speaks), or too early to judge
    if loss <= 0.5 * ctx.start_loss:
        return []
    return [(None, f"{said}; it was {ctx.start_loss:.4g} on the probe batch before the first step and {steps:,} "
                   "updates have not halved it: the targets lie far from where the outputs start, beyond their "
                   "spread, and each step moves the outputs a little of the way",
             "scale the targets: fit on (y − y.mean()) / y.std() and map the predictions back (× std + mean), as "
             "scikit-learn's TransformedTargetRegressor does with StandardScaler; or start the output layer's bias "
             "at the targets' mean")]


def output_range(records, ctx) -> list[Finding]:
    if ctx.unreachable is None:
        return []
    index, name, outside, floor, mean = ctx.unreachable
    if not floor > UNREACHABLE_SHARE * mean:
        return []
    share = f", {floor / mean:.2g}× the {mean:.4g}" if mean > 0 else ", against the 0"
    return [(index, f"layer {index} ({name}): its outputs lie in {OUTPUT_RANGES[name][2]}, but {outside:.0%} of the "
                    f"target values lie outside it: no weights bring the loss under {floor:.4g}{share} of always "
                    "predicting the targets' mean (a loss the output cannot fit)")]


def _probe(record, key: str):
    """A number of ``record``'s diagnostics (``accuracy`` or ``loss`` on the probe batch); None if absent."""
    return ((record or {}).get("diagnostics") or {}).get(key)


def _unsettled(record, ctx: Context) -> tuple[float, float] | None:
    """(running accuracy, probe accuracy) of ``record`` where the weights as the epoch ends
    score UNSETTLED_GAP below its running accuracy and under the midpoint between it and chance."""
    running, end = record.get("accuracy"), _probe(record, "accuracy")
    if running is None or end is None or ctx.chance is None or ctx.weighted_chance:
        return None
    if running - end > UNSETTLED_GAP and end < (running + ctx.chance) / 2:
        return running, end
    return None


def unsettled_weights(records, ctx) -> list[Finding]:
    restored = _restored(unsettled_weights, records, ctx)
    if restored is not None:
        return restored
    found = _unsettled(records[-1], ctx)
    if found is None:
        return []
    recent = records[-UNSETTLED_EPOCHS:]
    if not _run_ends(records[-1], ctx) and (len(recent) < UNSETTLED_EPOCHS
                                             or any(_unsettled(r, ctx) is None for r in recent)):
        return []
    running, end = found
    size = _probe(records[-1], "loss")
    loss = f" (loss {size:.4g} against the epoch's {records[-1]['loss']:.4g})" if size is not None else ""
    return [(None, f"the weights as the epoch ends score accuracy {end:.3f} on the probe batch of training rows{loss}, "
                   f"while the epoch's running accuracy (its mean over the steps) is {running:.3f} and always answering "
                   f"the most common class scores {ctx.chance:.3f}: the last steps threw the weights off, and a "
                   "model saved now holds those weights (unsettled weights)",
             f"{_lower_rate(ctx, '3-10×')}, or take larger batches (--batch-size), whose gradient varies less "
             "from step to step; or decay the learning rate with a schedule (--schedule)")]


def _norms_stopped(records) -> list[float] | None:
    """Each Dense layer's ‖W‖ at the latest record where, over the last DECAY_EPOCHS records,
    none has grown past its largest size before by more than DECAY_SETTLED (weights the decay
    holds at a size: mini-batch steps move them around it by 5-20% an epoch); else None."""
    recent = [_weights(r) for r in records[-DECAY_EPOCHS:]]
    if len(recent) < DECAY_EPOCHS or not recent[-1] or any(len(w) != len(recent[-1]) for w in recent):
        return None
    norms = [[p.get("norm") for p in w] for w in recent]
    if any(n is None or not math.isfinite(n) for row in norms for n in row):
        return None
    latest = norms[-1]
    for k, now in enumerate(latest):
        if now > (1 + DECAY_SETTLED) * max(row[k] for row in norms[:-1]):
            return None
    return latest


def _decay_settled(records, ctx: Context) -> tuple[list[float], list[float]] | None:
    """(each Dense layer's balance figure, its ‖W‖) at the latest record, where the weight
    decay λ holds the weights at a size (:func:`_norms_stopped`): under L2 decay the
    relative gradient ‖∇W‖/‖W‖ at most DECAY_COMPARABLE·λ (see DECAY_COMPARABLE); under
    AdamW's decoupled decay the update ratio ‖ΔW‖/‖W‖ at most αλ / DECOUPLED_SHARE (the decay's
    own step αλ of the weights' size is at least DECOUPLED_SHARE of the whole step). Else None."""
    lam = ctx.weight_decay
    if not lam or not records:
        return None
    params = _weights(records[-1])
    if ctx.optimizer == "AdamW":
        figures = [p.get("update_ratio") for p in params]
        if ctx.lr is None or any(r is None or not ctx.lr * lam >= DECOUPLED_SHARE * r for r in figures):
            return None
    else:
        figures = [_relative_gradient(p) for p in params]
        if any(g is None or not SATURATED_UPDATE <= g <= DECAY_COMPARABLE * lam for g in figures):
            return None
    norms = _norms_stopped(records)
    return None if norms is None else (figures, norms)


def _short_of_fit(record, ctx: Context) -> str:
    """How far the network is from fitting its training rows, in words, where it closes less
    than DECAY_FITTED of the gap from guessing to a fit and more than chance_accuracy's
    CHANCE_MARGIN (at chance, that rule names the decay): for classes, the training accuracy
    (the better of the epoch's running one and the probe batch's, dropout off) against chance;
    for squared error on real-valued targets, R² = 1 − loss / (the targets' variance), with the
    lower of the epoch's loss and the probe batch's. "" where it fits (or nothing tells)."""
    if ctx.chance is not None:
        acc = (_probe(record, "weighted_accuracy") if ctx.weighted_chance
               else max((a for a in (record.get("accuracy"), _probe(record, "accuracy")) if a is not None), default=None))
        if acc is None or acc >= ctx.chance + DECAY_FITTED * (1 - ctx.chance) or at_chance(acc, ctx.chance):
            return ""
        return f"training accuracy is {acc:.3f} (chance {ctx.chance:.3f})"
    mean = ctx.mean_loss
    losses = [v for v in (record.get("loss"), _probe(record, "loss")) if v is not None and math.isfinite(v)]
    if mean is None or not mean > 0 or not losses:
        return ""
    explained = 1.0 - min(losses) / mean
    if explained >= DECAY_FITTED or explained < CHANCE_MARGIN:
        return ""
    return (f"the training loss is {min(losses):.4g}, the network explains {explained:.0%} of the targets' variance "
            f"(R² = 1 − loss / {mean:.4g} = {explained:.2f} on the training rows)")


def strong_decay(records, ctx) -> list[Finding]:
    short = _short_of_fit(records[-1], ctx)
    found = _decay_settled(records, ctx) if short else None
    if found is None:
        return []
    figures, norms = found
    lam = ctx.weight_decay
    if ctx.optimizer == "AdamW":
        pull = (f"AdamW's weight decay {lam:g} shrinks each weight by αλ = {ctx.lr * lam:.2g} of its size a step, at "
                f"least {DECOUPLED_SHARE:.0%} of each Dense layer's whole step (update ratio ‖ΔW‖/‖W‖ "
                f"{', '.join(f'{r:.2g}' for r in figures)}), so it stops the weights where Adam's steps of about α "
                "balance it")
        usual = USUAL_DECOUPLED_DECAY
    else:
        pull = (f"weight decay {lam:g} pulls it towards 0 by λ‖W‖ about as hard as the loss's gradient pushes "
                f"(‖∇W‖/‖W‖ {', '.join(f'{g:.2g}' for g in figures)}, at most {DECAY_COMPARABLE:g}λ)")
        usual = USUAL_DECAY
    return [(None, f"{short} and each Dense layer's ‖W‖ has settled ({', '.join(f'{n:.3g}' for n in norms)}, none "
                   f"more than {DECAY_SETTLED:.0%} above its size before over the last {DECAY_EPOCHS} epochs) where "
                   f"{pull}: the decay, not the data, sets the weights' size, too small to fit the training rows",
             f"lower the weight decay (--weight-decay {lam:g}), for example 10-100× smaller or a usual "
             f"{usual:g}, or 0: the loss levels off where the decay's pull balances its gradient, not at a fit")]


def _slow_steps(records, layer: int) -> list[float] | None:
    """The update ratios ‖ΔW‖/‖W‖ of Dense layer ``layer``'s W over the last DECAY_EPOCHS
    records, where each is under SATURATED_UPDATE; else None."""
    ratios = []
    for record in records[-DECAY_EPOCHS:]:
        found = [p.get("update_ratio") for p in _weights(record) if p.get("layer") == layer]
        if len(found) != 1 or found[0] is None or not found[0] < SATURATED_UPDATE:
            return None
        ratios.append(found[0])
    return ratios if len(ratios) == DECAY_EPOCHS else None


def large_weights(records, ctx) -> list[Finding]:
    short = _short_of_fit(records[-1], ctx) if len(records) >= DECAY_EPOCHS else ""
    if not short:
        return []
    layers = {s["index"]: s for s in _layers(records[-1])}
    found = []
    for i, s in sorted(layers.items()):
        after = layers.get(i + 1, {})
        if s.get("layer") != "Dense" or after.get("layer") not in _LINEAR_ABOVE_0:
            continue
        mean, std = s.get("mean"), s.get("std")
        size = math.hypot(mean, std) if mean is not None and std is not None else math.nan
        ratios = _slow_steps(records, i) if size > LARGE_PREACTIVATION else None
        if ratios is None:
            continue
        first = not any(t.get("layer") == "Dense" for k, t in layers.items() if k < i)
        cause = "inputs or weights" if first and not ctx.scaled_inputs else "weights"
        found.append((i, f"{_where(s)}, feeding {_where(after)}: its outputs z are of size {size:.3g} (root mean square "
                         f"on the probe batch, where a usual start gives 1-3) and it moves its weights by at most "
                         f"{max(ratios):.1e} of their size a step (update ratio ‖ΔW‖/‖W‖ under {SATURATED_UPDATE:.0e} "
                         f"for {DECAY_EPOCHS} epochs) while {short}: {cause} this large make each step too small a "
                         "share of the weights to learn (weights too large)",
                      f"{_start_fix(ctx)}: ReLU units pass their size on, so no learning rate suits weights this much "
                      "larger than the rest of the network"))
    return found


def _below_chance_of(val: float, acc: float, rows: int | None) -> bool:
    """Whether a validation accuracy ``val`` of ``rows`` rows is too low to be their sampling
    noise about a training accuracy ``acc``: ``P(X ≤ k | n, a) < OVERFIT_CHANCE`` for
    ``X ~ Binomial(n, a)``, ``k = round(val·n)`` (see OVERFIT_CHANCE); True where the rows are
    not known or are OVERFIT_EXACT_ROWS or more."""
    if rows is None or rows >= OVERFIT_EXACT_ROWS or rows <= 0:
        return True
    k = min(round(val * rows), rows)
    if acc >= 1.0:
        return k < rows
    logs = [math.lgamma(rows + 1) - math.lgamma(i + 1) - math.lgamma(rows - i + 1)
            + i * math.log(acc) + (rows - i) * math.log1p(-acc) for i in range(k + 1)]
    return sum(math.exp(v) for v in logs) < OVERFIT_CHANCE


def _overfit(record, ctx: Context) -> bool:
    """Whether training accuracy is more than OVERFIT_GAP above validation accuracy in
    ``record``, beyond the validation rows' noise, while the weights as the epoch ends score on
    training rows (the probe) more than the gap above it too: a gap that is the running mean's
    over the end weights is unsettled_weights'."""
    acc, val, probe = record.get("accuracy"), record.get("val_accuracy"), _probe(record, "accuracy")
    if acc is None or val is None or not acc - val > OVERFIT_GAP:
        return False
    return not (probe is not None and probe - val <= OVERFIT_GAP) and _below_chance_of(val, acc, ctx.validation_rows)


def _val_loss_falls(records) -> bool:
    """Whether the latest validation loss is below every one before it (where recorded)."""
    latest = records[-1].get("val_loss")
    if latest is None or not math.isfinite(latest):
        return False
    before = _scan(records).best_val_loss(len(records) - 1)
    return math.isfinite(before) and latest < before


def overfitting(records, ctx) -> list[Finding]:
    recent = records[-OVERFIT_EPOCHS:]
    gaps = [_overfit(r, ctx) for r in recent]
    if len(recent) < OVERFIT_EPOCHS or not all(gaps) or _val_loss_falls(records):
        return []
    acc, val = records[-1]["accuracy"], records[-1]["val_accuracy"]
    fix = RULES["overfitting"][1]
    if "Dropout" in ctx.layers:
        fix = fix.replace("dropout (--dropout)", "a higher dropout rate (--dropout)")
    if ctx.weight_decay:
        fix = fix.replace("weight decay (--weight-decay)", f"a stronger weight decay (--weight-decay {ctx.weight_decay:g})")
    return [(None, f"training accuracy {acc:.3f} is {acc - val:.3f} above validation accuracy {val:.3f} (overfitting)",
             fix)]


def zero_init_symmetry(records, ctx) -> list[Finding]:
    dense = [s for s in _layers(records[-1]) if s["layer"] == "Dense"]
    return [
        (s["index"], f"{_where(s)}: its units are copies of a few units (at most half as many distinct weight "
                     "vectors as units), so the copies compute the same function and receive the same gradient "
                     "(symmetry)", _symmetry_fix(s, ctx))
        for s in dense[:-1]
        if s.get("identical_units")
    ]


#: The two causes of units that are copies: a zero start, and a weight decay that shrank
#: distinct units to zero.
_ZERO_START = ("never initialise weights to zero (seed 002: identical units get identical gradients and stay "
               "identical); use glorot_uniform or he_normal (--init)")
_DECAY = ("a weight decay too strong for the learning rate shrank them all to zero (an SGD step multiplies W by "
          "1 − αλ before the gradient moves it): lower --weight-decay")


def _symmetry_fix(s: dict, ctx: Context) -> str:
    """The symmetry fix for Dense layer ``s``: by the initialiser it started from, where
    ``ctx`` knows it (zeros: the start; a random draw of deltaprop's: the weight decay); else
    both causes."""
    i = s["index"]
    init = ctx.layers[i] if 0 <= i < len(ctx.layers) else ""
    if init == "Dense(zeros)":
        return _ZERO_START
    decay = _DECAY.replace("--weight-decay", f"--weight-decay {ctx.weight_decay:g}") if ctx.weight_decay else _DECAY
    if ctx.optimizer == "AdamW":
        decay = decay.replace("an SGD step", "an AdamW step")
    elif ctx.optimizer and ctx.optimizer != "SGD":
        decay = decay.replace("(an SGD step multiplies W by 1 − αλ before the gradient moves it)",
                              "(its gradient λW pulls every weight towards 0)")
    if init.startswith(("Dense(he_normal)", "Dense(glorot_uniform)", "Dense(scaled_normal")):  # random: distinct
        return f"its units started distinct ({init[6:-1]}), so {decay}"
    return f"{_ZERO_START}. Where they started distinct, {decay}"


Rule = Callable[[Sequence[dict], Context], list[Finding]]

#: Every rule, by name, with its fix. Names are what ``Alert.rule`` holds.
RULES: dict[str, tuple[Rule, str]] = {
    "loss_above_guess": (loss_above_guess,
                         "lower the learning rate (--lr), for example 10-100× smaller: a loss that rose this far "
                         "above guessing is the learning rate, not the initialisation or the depth, even where other "
                         "alerts see saturated units or vanishing gradients; where the evidence says it was this "
                         "high before the first step, keep the learning rate and start from smaller weights instead "
                         "(he_normal for ReLU, glorot_uniform for sigmoid and tanh) with --init on inputs scaled to [0, 1] or "
                         "standardised (--scaling)"),
    "output_range": (output_range,
                     "for regression end the network in an identity output (--output-activation identity), whose values are "
                     "unbounded; or scale the targets into the output's range (and predictions back)"),
    "dead_relu": (dead_relu, _dead_relu_fix({"index": 0}, Context())),  # each finding brings the fix that fits
    "saturated": (saturated, _saturated_fix({"index": 0}, Context(output_slope_cancelled=False), stuck=False)),
    "vanishing_gradients": (vanishing_gradients,
                            "δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ σ'(zˡ) shrinks by up to 4× in every sigmoid layer (seed 003): "
                            "use ReLU units with He initialisation (--init he_normal), or fewer layers"),
    "exploding_gradients": (exploding_gradients, _exploding_fix(Context())),  # each finding brings the fix that fits
    "exploding_loss": (exploding_loss, "lower the learning rate (for example 3-10× smaller)"),
    "oscillating_loss": (oscillating_loss,
                         "lower the learning rate, or decay it with a schedule (steps overshoot the minimum)"),
    "flat_loss": (flat_loss,
                  "the network has stopped learning: check the alerts above for dead or saturated units, "
                  "raise the learning rate if every step is tiny, and scale inputs to [0, 1]"),
    "chance_accuracy": (chance_accuracy,
                        "the network is guessing: look for dead, saturated or identical units above, try a "
                        "lower learning rate, "
                        "and check that the labels belong to the inputs"),
    "unsettled_weights": (unsettled_weights,
                          "lower the learning rate (--lr), for example 3-10× smaller, or take larger batches "
                          "(--batch-size); or decay the learning rate with a schedule (--schedule)"),
    "strong_decay": (strong_decay,
                     "lower the weight decay (--weight-decay), for example 10-100× smaller: the loss levels off "
                     "where the pull λW balances its gradient, not at a fit"),
    "large_weights": (large_weights, _start_fix(Context())),  # each finding brings the fix that fits
    "heavy_dropout": (heavy_dropout, "lower the dropout rate (--dropout) to 0.5 or less"),
    "overfitting": (overfitting,
                    "regularise: weight decay (--weight-decay), dropout (--dropout), early stopping "
                    "(--early-stopping), or more training data"),
    "zero_init_symmetry": (zero_init_symmetry, _symmetry_fix({"index": -1}, Context())),
}


def checked_alerts(data: Any) -> list[dict[str, Any]]:
    """A record's alerts read from a file, checked: a list of :class:`Alert` mappings of
    known rules; :class:`~deltaprop.errors.DataError` names what is wrong."""
    from .errors import DataError

    if not isinstance(data, list):
        raise DataError(f"its alerts must be a list, got {type(data).__name__}")
    out = []
    for item in data:
        try:
            alert = Alert.from_dict(item)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise DataError(f"an alert is malformed ({type(exc).__name__}: {exc})") from None
        if alert.rule not in RULES or not (alert.layer is None or (isinstance(alert.layer, int) and alert.layer >= 0)):
            raise DataError(f"an alert names rule {alert.rule!r} and layer {alert.layer!r}, which deltaprop does not raise")
        out.append(alert.as_dict())
    return out


def check(records: Sequence[dict], ctx: Context = Context()) -> list[Alert]:
    """Every alert that holds at the latest epoch of ``records``."""
    if not records:
        return []
    epoch = int(records[-1].get("epoch") or len(records))
    return [
        _worded(Alert(name, epoch, found[0], found[1], found[2] if len(found) > 2 else fix), ctx)
        for name, (rule, fix) in RULES.items()
        for found in rule(records, ctx)
    ]


class AlertMonitor:
    """Raises each (rule, layer) alert once: the first epoch it holds."""

    def __init__(self, ctx: Context = Context(), fired: Iterable[Alert] = ()):
        self.ctx = ctx
        self.fired: set[tuple[str, int | None]] = {(a.rule, a.layer) for a in fired}
        self._scan = _HistoryScan()  # reads the run's growing history once, not each epoch

    def update(self, records: Sequence[dict], ctx: Context | None = None) -> list[Alert]:
        """The alerts that hold now (judged in ``ctx``, default the monitor's) and have not fired before."""
        if not self._scan.matches(records):  # another history (the monitor reused by a new run)
            self._scan = _HistoryScan()
        with _scanning(self._scan):
            alerts = check(records, self.ctx if ctx is None else ctx)
        new = [a for a in alerts if (a.rule, a.layer) not in self.fired]
        self.fired.update((a.rule, a.layer) for a in new)
        return new

    def at_end(self, records: Sequence[dict], *, restored: bool = False,
               restored_epoch: int | None = None) -> list[Alert]:
        """The alerts that hold at the last of ``records`` judged as the run's end, which have
        not fired before: for a run stopped before its limits (early stopping, a callback's
        stop), whose last epoch the rules with a form for the run's end (chance_accuracy after
        too few updates or while the loss falls, unsettled_weights) judged as one the run
        goes on from. [] where that epoch reached the limits (judged so already).
        ``restored_epoch``: the network ends with that epoch's weights (early stopping's best),
        so those forms judge its record, not the last (:func:`_restored`); the monitor's
        context keeps it, for the check of which alerts still hold. ``restored`` without the
        epoch: the network ends with another epoch's weights, not known which, so
        unsettled_weights (of the last epoch's) is left out."""
        if not records or _run_ends(records[-1], self.ctx):
            return []
        last = int(records[-1].get("epoch") or len(records))
        self.ctx = dataclasses.replace(self.ctx, restored_epoch=restored_epoch)
        ctx = dataclasses.replace(self.ctx, run_epochs=last, run_steps=None)
        if not restored or restored_epoch is not None:
            return self.update(records, ctx)
        fired = set(self.fired)
        new = [a for a in self.update(records, ctx) if a.rule != "unsettled_weights"]
        self.fired = fired | {(a.rule, a.layer) for a in new}
        return new


def _holds(alert: Alert, records: Sequence[dict], ctx: Context) -> bool:
    rule = RULES[alert.rule][0]
    return any(found[0] == alert.layer for found in rule(records, ctx))


def cleared_by(alert: Alert, records: Sequence[dict], ctx: Context = Context()) -> int | None:
    """None when ``alert`` still holds at the last of ``records``; else the epoch from which
    it has not held, through the last (the epoch after the last one it held at)."""
    if _RUN_SCAN.get() is None:
        with _scanning():  # one pass serves every prefix below
            return cleared_by(alert, records, ctx)
    if not records or _holds(alert, records, ctx):
        return None
    epochs = [int(r.get("epoch") or k + 1) for k, r in enumerate(records)]
    for k in range(len(records) - 1, 0, -1):
        if epochs[k - 1] < alert.epoch or _holds(alert, records[:k], ctx):
            # an alert of a run's last epoch that a resume went on from (a short run at chance) held
            # there, though its records now go on past it: cleared by the epoch after it
            return epochs[k + 1] if epochs[k] == alert.epoch and k + 1 < len(epochs) else epochs[k]
    return epochs[0]


def standing(alerts: Sequence[Alert], records: Sequence[dict], ctx: Context = Context()) -> dict[str, Any]:
    """Whether each alert still holds at the end of the run (:func:`check`'s rules on the
    final ``records``): ``{"last_epoch": N, "alerts": [{"rule", "layer", "epoch",
    "cleared_by"}]}``, ``cleared_by`` None for one that still holds. A run's run.json keeps it.
    Where ``ctx`` does not know the run's limits, its last record is taken as the run's end."""
    last = int(records[-1].get("epoch") or len(records)) if records else 0
    if ctx.run_epochs is None and ctx.run_steps is None:  # the records end the run: its last epoch is judged so
        ctx = dataclasses.replace(ctx, run_epochs=last)
    with _scanning():
        return {"last_epoch": last,
                "alerts": [{"rule": a.rule, "layer": a.layer, "epoch": a.epoch,
                            "cleared_by": cleared_by(a, records, ctx)} for a in alerts]}


def _epoch_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def checked_standing(data: Any) -> dict[str, Any]:
    """:func:`standing` read from a file, checked; :class:`~deltaprop.errors.DataError` names
    what is wrong (a run.json written before it was kept has none: its reader skips it)."""
    from .errors import DataError

    items = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(items, list) or not _epoch_or_none(data.get("last_epoch")):
        raise DataError("its alerts_at_end must be {'last_epoch': N, 'alerts': [...]}")
    for item in items:
        ok = (isinstance(item, dict) and item.get("rule") in RULES and _epoch_or_none(item.get("layer"))
              and _epoch_or_none(item.get("epoch")) and _epoch_or_none(item.get("cleared_by")))
        if not ok:
            raise DataError(f"its alerts_at_end holds {item!r:.80}, not an alert's rule, layer, epoch and cleared_by")
    return {"last_epoch": data["last_epoch"], "alerts": [dict(item) for item in items]}


def standing_of(alert: dict[str, Any] | Alert, at_end: dict[str, Any] | None) -> str | None:
    """What ``at_end`` (see :func:`standing`) says of one alert: "still holds at the last
    epoch (N)", "cleared by epoch K", or None when it does not say."""
    a = alert.as_dict() if isinstance(alert, Alert) else alert
    for item in (at_end or {}).get("alerts", ()):
        if (item["rule"], item["layer"], item["epoch"]) == (a["rule"], a["layer"], a["epoch"]):
            if item["cleared_by"] is None:
                return f"still holds at the last epoch ({at_end['last_epoch']})"
            return f"cleared by epoch {item['cleared_by']}: it no longer holds at the last epoch ({at_end['last_epoch']})"
    return None


#: The summary of a run without alerts: what the rules looked for, never more. Saturated
#: units alone are no alert (an adaptive optimizer's layer learns with 70% of its outputs
#: saturated), so it does not say there are none: diagnostics.csv gives their share.
NO_ALERTS = ("no alerts: no rule fired on dead, identical or slowly learning saturated units, weights too large "
             "to move, vanishing or exploding gradients, a loss that rises, oscillates, stays flat or sits above "
             "guessing, targets outside the output's range, chance accuracy, weights that end an epoch far below its "
             "running accuracy, a weight decay that outweighs the loss, dropout too heavy to fit or overfitting")


def summary(alerts: Sequence[Alert], at_end: dict[str, Any] | None = None) -> str:
    """The end-of-run summary: one line per alert, or a line saying there were none. With
    ``at_end`` (:func:`standing` on the final records) each alert says whether it still
    holds at the last epoch, and a last line counts those that do."""
    if not alerts:
        return NO_ALERTS
    lines = [f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} during training:"]
    holding = 0
    for a in alerts:
        lines.append(f"  [{a.rule}] {a}")
        state = standing_of(a, at_end)
        if state is not None:
            lines.append(f"    -> {state}")
            holding += state.startswith("still")
    if at_end is not None:
        lines.append(f"{holding} of them still hold{'s' if holding == 1 else ''} at the last epoch "
                     f"({at_end['last_epoch']}); {len(alerts) - holding} cleared before it")
    return "\n".join(lines)


def optimizer_settings(optimizer) -> dict[str, Any]:
    """The :class:`Context` fields of ``optimizer`` (None: all None): its type name, ``lr``,
    SGD's ``momentum`` (None for other optimizers) and ``weight_decay``."""
    if optimizer is None:
        return {}
    momentum = getattr(optimizer, "momentum", None) if optimizer.type_name == "SGD" else None
    return {"optimizer": optimizer.type_name, "lr": float(optimizer.lr),
            "momentum": None if momentum is None else float(momentum), "weight_decay": float(optimizer.weight_decay)}


def context_of(net, loss, y=None, sample_weight=None, X=None, optimizer=None) -> Context:
    """The :class:`Context` of training ``net`` under ``loss`` on targets ``y``: the chance
    level of ``y``'s classes (None for regression or without ``y``) and whether the loss
    cancels an output sigmoid's σ' (every loss but squared error; a linear output has no σ').

    ``sample_weight`` (one weight a row, as ``fit`` takes it) that is not the same for every
    row makes the chance level the heaviest class's share of the weights,
    ``max_c Σ_{y_i = c} w_i / Σ w_i`` (``weighted_chance``), judged against the probe's
    weighted accuracy, not the history's: the run minimises ``(1/n) Σ w_i ℓ_i`` while that
    accuracy counts each row once, and weights that favour rare classes trade it for them on
    purpose (a network trained with weights balancing a 95/5 split, balanced accuracy 0.89,
    scores 0.86, under the 0.95 of always answering the common class, and always answering
    the common class would pass), while weighted, a constant answer scores at most the
    weighted chance and that network 0.89 against 0.5.

    ``X`` (the inputs, or some rows of them) tells whether they reach the network scaled
    (:func:`scaled`); without it only a network that scales its own inputs is known to.
    ``optimizer``: the run's (:func:`optimizer_settings`), for fixes that fit it."""
    import numpy as np

    from .losses import MeanSquaredError

    chance = guesses = mean = None
    unequal = False
    if y is not None:
        targets = loss.prepare_targets(y, net.n_outputs, net.dtype)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        unequal = weights is not None and weights.size > 0 and bool(np.any(weights != weights.flat[0]))
        if loss.targets_are_classes(targets):
            ids = (targets[:, 0] >= 0.5) if targets.shape[1] == 1 else np.argmax(targets, axis=1)
            chance = chance_level(ids, max(targets.shape[1], 2), weights if unequal else None)
            guesses = guess_losses(loss, targets, weights if unequal else None)
        mean = mean_loss(loss, targets, weights if unequal else None)
    frequencies, uniform = guesses or (None, None)
    unreachable = None if y is None else unreachable_loss(net, loss, targets)
    # an output with flat ends (σ' near 0) whose slope squared error keeps; a linear output
    # (a regressor's) has none, and cross-entropy is no fix for it
    squashed = bool(net.layers) and type(net.layers[-1]).__name__ in ("Sigmoid", "Softmax", "Tanh")
    return Context(chance=chance, weighted_chance=chance is not None and unequal,
                   output_slope_cancelled=not (isinstance(loss, MeanSquaredError) and squashed),
                   frequencies_loss=frequencies, uniform_loss=uniform, mean_loss=mean, unreachable=unreachable,
                   layers=layers_of(net), scaled_inputs=scaled(net, X),
                   loss_floor=loss_floor(net, loss) if chance is not None else 0.0, interface=_INTERFACE.get(),
                   dropout=max((float(layer.rate) for layer in net.layers if type(layer).__name__ == "Dropout"),
                               default=None),
                   **optimizer_settings(optimizer))


#: The values of each bounded layer that can feed a softmax (or be cross-entropy's logits).
_BOUNDED = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0)}


def loss_floor(net, loss) -> float:
    """The lowest cross-entropy ``net`` reaches on one-hot rows where its softmax takes values
    bounded to ``[lo, hi]`` (a sigmoid or tanh layer before it, or as the logits of
    ``from_logits``): the target's value at ``hi`` and the other k − 1 at ``lo`` give
    ``ln(1 + (k − 1) e^(lo − hi))``, ``ln(e + k − 1) − 1`` for sigmoid outputs (1.461 for ten
    classes, seed 000's network without a linear layer before its softmax); else 0."""
    from .losses import CrossEntropy

    layers = [layer for layer in net.layers if layer.type_name != "Dropout"]
    k = net.n_outputs
    if not isinstance(loss, CrossEntropy) or k < 2 or not layers:
        return 0.0
    if loss.from_logits:
        feeding = layers[-1]
    elif len(layers) >= 2 and layers[-1].type_name == "Softmax":
        feeding = layers[-2]
    else:
        return 0.0
    lo, hi = _BOUNDED.get(feeding.type_name, (-math.inf, math.inf))
    return math.log1p((k - 1) * math.exp(lo - hi))


#: Inputs count as standardised when every column's mean is within this of 0 and its
#: standard deviation at most 1 + this (a probe of 512 standardised rows: means within about
#: 3/√512 = 0.13 of 0).
STANDARDISED_SLACK = 0.25


def scaled(net, X=None) -> bool | None:
    """Whether the inputs reach ``net``'s first Dense layer scaled: the network's first layer
    is a Rescaling or Standardization layer (True), or ``X`` lies within [−1, 1] or looks
    standardised (each column's mean within :data:`STANDARDISED_SLACK` of 0, its standard
    deviation at most 1 + that). False where ``X`` is neither; None without ``X``."""
    import numpy as np

    from .preprocessing import PREPROCESSING

    if net.layers and net.layers[0].type_name in PREPROCESSING:
        return True
    if X is None:
        return None
    try:
        x = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if x.ndim != 2 or x.size == 0 or not np.isfinite(x).all():
        return None
    if np.abs(x).max() <= 1.0:
        return True
    mean, std = x.mean(axis=0), x.std(axis=0)
    return bool(np.all(np.abs(mean) <= STANDARDISED_SLACK) and np.all(std <= 1.0 + STANDARDISED_SLACK))


def layers_of(net) -> tuple[str, ...]:
    """:attr:`Context.layers` of ``net``: each layer's type, a Dense layer's with its
    initialiser's name, a leaky ReLU of slope 0 as ``"LeakyReLU(0)"``. A Dense layer whose
    units are copies now (weights set by hand after it was built: its initialiser's name
    says nothing of them) is ``"Dense(zeros)"`` where its weights are all 0, else
    ``"Dense(copies)"``."""
    from .diagnostics import identical_units
    from .layers import Dense, LeakyReLU

    def name(layer) -> str:
        if isinstance(layer, Dense):
            if layer.init_name != "zeros" and identical_units(layer):
                return "Dense(zeros)" if not layer.W.value.any() else "Dense(copies)"
            return f"Dense({layer.init_name})"
        if isinstance(layer, LeakyReLU) and layer.slope == 0:
            return "LeakyReLU(0)"
        return layer.type_name

    return tuple(name(layer) for layer in net.layers)


def unreachable_loss(net, loss, targets) -> tuple[int, str, float, float, float] | None:
    """Squared error on ``targets`` (prepared rows) that the network's bounded output
    activation cannot reach: ``(index, type, share outside, floor, mean loss)``, the floor
    being the loss of the outputs nearest the targets within :data:`OUTPUT_RANGES`
    (``clip(y, lo, hi)``) and the mean loss that of predicting the targets' mean in every
    row. None for other losses and outputs, or where every target is within reach."""
    import numpy as np

    from .diagnostics import own_loss
    from .losses import MeanSquaredError

    last = len(net.layers) - 1
    name = net.layers[last].type_name
    if not isinstance(loss, MeanSquaredError) or name not in OUTPUT_RANGES or len(targets) == 0:
        return None
    lo, hi, _ = OUTPUT_RANGES[name]
    y = np.asarray(targets, dtype=np.float64)
    near = np.clip(y, lo, hi)
    outside = float(np.mean(near != y))
    if outside == 0.0:
        return None
    mean = np.repeat(np.mean(y, axis=0, keepdims=True), len(y), axis=0)
    with np.errstate(all="ignore"):
        floor, guess = (float(own_loss(loss).value(a, y)) for a in (near, mean))
    return (last, name, outside, floor, guess) if math.isfinite(floor) and math.isfinite(guess) else None


def guess_losses(loss, targets, weights=None) -> tuple[float, float] | None:
    """A likelihood loss's value on ``targets`` (class rows) for predicting the class
    frequencies ``p̄`` and for the same probability for every class: ``−Σ p̄ ln q`` is
    linear in the targets, so one row of their mean gives the mean. With row ``weights``
    (``≥ 0``) both are of the weighted loss the run minimises: ``p̄ = Σ w_i y_i / Σ w_i``, the
    classes' shares of the weights. None for other losses."""
    import numpy as np

    from .diagnostics import own_loss
    from .losses import BinaryCrossEntropy, _LikelihoodLoss

    if not isinstance(loss, _LikelihoodLoss) or len(targets) == 0:
        return None
    sigmoid = isinstance(loss, BinaryCrossEntropy)  # each output a class of its own against the rest
    if weights is not None and not np.sum(weights) > 0:
        return None
    mean = np.average(np.asarray(targets, dtype=np.float64), axis=0, weights=weights)[None, :]
    values = []
    for q in (np.clip(mean, 1e-7, 1 - 1e-7), np.full_like(mean, 0.5 if sigmoid else 1.0 / mean.shape[1])):
        if loss.from_logits:  # the logits of q: ln q for a softmax, ln q − ln(1 − q) for a sigmoid
            q = np.log(q) - (np.log1p(-q) if sigmoid else 0.0)
        with np.errstate(all="ignore"):
            values.append(float(own_loss(loss).value(q.astype(targets.dtype), mean.astype(targets.dtype))))
    return (values[0], values[1]) if all(map(math.isfinite, values)) else None


def mean_loss(loss, targets, weights=None) -> float | None:
    """Squared error's value on ``targets`` for predicting their mean ``ȳ`` in every row,
    ``(1/n) Σ_i ‖ȳ − y_i‖²`` (the targets' total variance; for one-hot rows, predicting the
    class frequencies: ``1 − Σ_c p̄_c²``). With row ``weights`` (``≥ 0``), of the weighted
    loss the run minimises, ``ȳ = Σ w_i y_i / Σ w_i``. None for other losses, no rows, or a
    value that is not finite."""
    import numpy as np

    from .diagnostics import own_loss
    from .losses import MeanSquaredError

    if not isinstance(loss, MeanSquaredError) or len(targets) == 0:
        return None
    if weights is not None and not np.sum(weights) > 0:
        return None
    y = np.asarray(targets, dtype=np.float64)
    guess = np.repeat(np.average(y, axis=0, weights=weights)[None, :], len(y), axis=0)
    scaled = None if weights is None else np.asarray(weights, dtype=np.float64) / np.mean(weights)  # as fit scales
    with np.errstate(all="ignore"):
        value = float(own_loss(loss).value(guess, y, scaled))
    return value if math.isfinite(value) else None


def chance_level(class_ids: Sequence[int] | Any, n_classes: int, weights: Any = None) -> float:
    """The accuracy of always answering the most common class among ``class_ids``; with
    ``weights`` (one ``≥ 0`` a row), the weighted accuracy ``Σ w_i [y_i = c] / Σ w_i`` of
    always answering the class ``c`` of the largest share of the weights."""
    import numpy as np

    ids = np.asarray(class_ids, dtype=np.int64).ravel()
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    total = ids.size if w is None else float(np.sum(w))
    if ids.size == 0 or not total > 0:
        return 1.0 / max(n_classes, 2)
    counts = np.bincount(ids, weights=w, minlength=max(n_classes, 2))
    return max(float(counts.max() / total), 1.0 / max(n_classes, 2))


def at_chance(accuracy: float | None, chance: float | None) -> bool:
    """Whether an accuracy closes at most :data:`CHANCE_MARGIN` of the gap from chance to 1."""
    return accuracy is not None and chance is not None and accuracy <= chance + CHANCE_MARGIN * (1.0 - chance)
