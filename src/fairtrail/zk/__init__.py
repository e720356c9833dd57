"""Zero-knowledge audit proofs: a model's predictions proved against a weight commitment.

    export    a scikit-learn model as plain ONNX ops, and the public featurizer
    circuits  `zk setup`: the ezkl circuit and its ZkCircuit statement
    proofs    `zk prove-audit` and `zk prove-decision`: ZkProof statements
    verify    offline checks of a proof against the circuit's key and commitments
"""
