"""model/traces.py: the operations each layer did, by the paper's rule (section 3)."""
import numpy as np

from model.traces import operations


def test_operations_follow_the_papers_rule():
    """FLUSH after a layer fired, else UPDATE where the layer below fired (layer 1: always), else COPY;
    a layer without a detector never FLUSHes, whatever its z column holds."""
    z = np.array([[1, 0, 0],
                  [0, 0, 1],          # (the top layer has no detector: its 1 here must not make a FLUSH)
                  [1, 1, 0],
                  [0, 0, 0]], dtype=float)
    op = operations(np.zeros(3), z, [True, True, False])
    assert ["".join(op[:, l]) for l in range(3)] == ["UFUF", "UCUF", "CCUC"]
    # a run continued from a state whose last step fired starts with a FLUSH
    assert "".join(operations(np.array([1.0, 0, 0]), z, [True, True, False])[:, 0]) == "FFUF"
