"""Accuracy, macro-F1 and confusion of a zoo discriminative model computed in PyTorch, apart
from onnxruntime and from ptq-onnx's evaluation code: the ONNX file's embedding, LSTM and head
weights are loaded into torch.nn modules (ONNX gate order i, o, f, c reordered to torch's
i, f, g, o; stacked and bidirectional LSTMs too), and each row's class is the head applied to
the LSTM's hidden state at its last real token, or for stacked/bidirectional models the top
layer's final state per direction over the packed sequence (scripts/zoo/train.py's
Discriminative.forward).

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
    lstms = [n for n in nodes if n.op_type == "LSTM"]  # in graph order: layer 0 first
    gemm = next(n for n in nodes if n.op_type == "Gemm")
    table = next(inits[n.input[0]] for n in nodes if n.op_type == "Gather" and n.input[0] in inits and inits[n.input[0]].ndim == 2)
    first_W = inits[lstms[0].input[1]]
    H = inits[lstms[0].input[2]].shape[2]
    dirs = first_W.shape[0]
    rnn = torch.nn.LSTM(first_W.shape[2], H, num_layers=len(lstms), batch_first=True, bidirectional=dirs == 2)
    order = np.concatenate([np.arange(k * H, (k + 1) * H) for k in (0, 2, 3, 1)])  # i, f, c(g), o
    with torch.no_grad():
        for layer, lstm in enumerate(lstms):
            W, R, B = (inits[lstm.input[i]] for i in (1, 2, 3))
            for d in range(dirs):
                suffix = f"l{layer}" + ("_reverse" if d == 1 else "")
                getattr(rnn, f"weight_ih_{suffix}").copy_(torch.from_numpy(W[d][order]))
                getattr(rnn, f"weight_hh_{suffix}").copy_(torch.from_numpy(R[d][order]))
                getattr(rnn, f"bias_ih_{suffix}").copy_(torch.from_numpy(B[d][: 4 * H][order]))
                getattr(rnn, f"bias_hh_{suffix}").copy_(torch.from_numpy(B[d][4 * H :][order]))
    attrs = {a.name: a for a in gemm.attribute}
    head_w = inits[gemm.input[1]]
    if not (attrs.get("transB") and attrs["transB"].i == 1):
        head_w = head_w.T
    head_b = inits[gemm.input[2]]
    return torch.from_numpy(table.copy()), rnn, torch.from_numpy(head_w.copy()), torch.from_numpy(head_b.copy())


def last_states(rnn, x, lengths):
    """The head's input: the hidden state at each row's last real token (one layer, one
    direction), else, as train.py's packed path, the top layer's final state per direction."""
    if rnn.num_layers == 1 and not rnn.bidirectional:
        out, _ = rnn(x)
        return out[torch.arange(x.size(0)), (lengths - 1).clamp(min=0)]
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
    _, (h_n, _) = rnn(packed)
    dirs = 2 if rnn.bidirectional else 1
    return torch.cat([h_n[-dirs + d] for d in range(dirs)], dim=1)


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
            last = last_states(rnn, table[ids], lengths)
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
