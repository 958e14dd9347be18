"""The names of the training objectives and learning-rate policies.

Names are the public API: ``--gan-mode``, ``--lr-policy`` and config files use
them. Like ``models.registry``, this module does not import TensorFlow, so the
config can check them before TensorFlow loads. The GAN objectives are computed
in ``losses`` (``d_terms``, ``g_term``, ``gradient_penalty``), the policies in
``schedule`` (``make_schedule``).

GAN modes, with ``x`` a logit of D (each term is a per-example mean over D's
patch map, summed over the scales of a multi-scale D):

=========  ======================  ==============  ==================
mode       D term on real          D term on fake  G term
=========  ======================  ==============  ==================
vanilla    BCE(x, 1)               BCE(x, 0)       BCE(x, 1) (non-saturating)
lsgan      (x - 1)^2               x^2             (x - 1)^2
hinge      relu(1 - x)             relu(1 + x)     -x
wgangp     -x                      x               -x
=========  ======================  ==============  ==================

``wgangp`` adds the gradient penalty (``losses.gradient_penalty``) to D's loss;
the PyTorch reference's ``wgangp`` mode never does.

Learning-rate policies (see ``schedule``): ``linear`` (constant, then linear
decay to zero: the reference's default), ``step`` (x0.1 every
``lr_decay_iters`` epochs), ``cosine`` (cosine from lr to zero over the whole
run), ``constant``.
"""

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")
# Modes whose D loss has a gradient penalty: its per-example gradients are only
# the example's own with a D that does not mix examples (no batch norm).
GRADIENT_PENALTY_MODES = ("wgangp",)
LR_POLICIES = ("linear", "step", "cosine", "constant")
