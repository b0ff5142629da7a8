"""Accuracy, macro-F1 and confusion of a zoo discriminative model computed in PyTorch, apart
from onnxruntime and from ptq-onnx's evaluation code: the ONNX file's embedding, LSTM and head
weights are loaded into torch.nn modules (ONNX gate order i, o, f, c reordered to torch's
i, f, g, o), and each row's class is the head applied to the LSTM's hidden state at its last
real token (scripts/zoo/train.py's Disc.forward).

    /usr/bin/python3 scripts/zoo/torch_accuracy.py MODEL.onnx TEST.jsonl   -> one JSON line
"""
import json
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def load(path):
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    nodes = list(m.graph.node)
    lstm = next(n for n in nodes if n.op_type == "LSTM")
    gemm = next(n for n in nodes if n.op_type == "Gemm")
    table = next(inits[n.input[0]] for n in nodes if n.op_type == "Gather" and n.input[0] in inits and inits[n.input[0]].ndim == 2)
    W, R, B = (inits[lstm.input[i]] for i in (1, 2, 3))
    H = R.shape[2]
    order = np.concatenate([np.arange(k * H, (k + 1) * H) for k in (0, 2, 3, 1)])  # i, f, c(g), o
    rnn = torch.nn.LSTM(W.shape[2], H, batch_first=True)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(W[0][order]))
        rnn.weight_hh_l0.copy_(torch.from_numpy(R[0][order]))
        rnn.bias_ih_l0.copy_(torch.from_numpy(B[0][: 4 * H][order]))
        rnn.bias_hh_l0.copy_(torch.from_numpy(B[0][4 * H :][order]))
    attrs = {a.name: a for a in gemm.attribute}
    head_w = inits[gemm.input[1]]
    if not (attrs.get("transB") and attrs["transB"].i == 1):
        head_w = head_w.T
    head_b = inits[gemm.input[2]]
    return torch.from_numpy(table.copy()), rnn, torch.from_numpy(head_w.copy()), torch.from_numpy(head_b.copy())


def main(model_path, data_path):
    torch.set_num_threads(1)
    table, rnn, head_w, head_b = load(model_path)
    rows = [json.loads(line) for line in open(data_path) if line.strip()]
    classes = head_w.shape[0]
    preds = []
    with torch.no_grad():
        for start in range(0, len(rows), 256):
            batch = rows[start : start + 256]
            T = max(len(r["ids"]) for r in batch)
            ids = torch.zeros((len(batch), T), dtype=torch.long)
            for b, r in enumerate(batch):
                ids[b, : len(r["ids"])] = torch.tensor(r["ids"])
            lengths = torch.tensor([len(r["ids"]) for r in batch])
            out, _ = rnn(table[ids])
            last = out[torch.arange(len(batch)), (lengths - 1).clamp(min=0)]
            preds += (last @ head_w.T + head_b).argmax(1).tolist()
    labels = [r["label"] for r in rows]
    confusion = [[0] * classes for _ in range(classes)]
    for y, p in zip(labels, preds):
        confusion[y][p] += 1
    f1s = []
    for c in range(classes):
        tp = confusion[c][c]
        predicted = sum(confusion[t][c] for t in range(classes))
        actual = sum(confusion[c])
        prec = tp / predicted if predicted else 0.0
        rec = tp / actual if actual else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    n = len(rows)
    print(json.dumps({"n": n, "accuracy": sum(int(y == p) for y, p in zip(labels, preds)) / n, "macro_f1": sum(f1s) / classes, "confusion": confusion}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
