// QAnchorModel: the inference engine and the Q-Anchor model. See docs/model.md.
import CCBLAS
