#!/usr/bin/python3
"""Train one zoo model (discriminative or generative LSTM text classifier) and export it to ONNX.

Run with Debian's interpreter, which has torch 1.13 (CPU) and onnx 1.12:

    /usr/bin/python3 scripts/zoo/train.py --data DIR --kind disc|gen --out MODEL.onnx [options]

DIR is a data set exported by `exportDataset` (src/data/export.ts): train.jsonl, val.jsonl and
test.jsonl (lines {"id", "text", "ids", "label"}), tokenizer.json (the contract's tokenizer spec)
and labels.json (class names). Only `ids` and `label` are used: the token ids are the ones the
TypeScript tokenizer produced, so training and inference see the same tokens.

Models (the exported graph takes `input_ids` int64 [batch, seq], right-padded with 0, and
`lengths` int64 [batch], both with dynamic batch and seq axes):

* disc: token embedding -> one-layer LSTM -> the hidden state at the last real position
  (gathered at lengths-1 of the right-padded output; no packed sequences) -> dropout -> linear
  head. Output `logits` float [batch, classes]. With --layers N > 1 or --bidirectional the LSTM
  runs on a packed sequence (exported as the ONNX LSTM's sequence_lens input, so a backward
  direction starts at each row's last real token) and the head reads the top layer's final
  state of each direction.
* gen: the "shared LSTM" class-conditional language model of Yogatama et al. (2017). The input
  at step t is the embedding of the previous token concatenated with the label embedding; step 0
  gets the embedding of id 0 (<pad>) as its begin-of-sequence symbol, so <pad> doubles as BOS.
  The LSTM output goes through a linear projection to the vocabulary and a log-softmax.
  Trained on -log p(x | y_true) over real tokens only. The exported graph expands each row to
  every class and outputs `scores` float [batch, classes] with
  scores[b, y] = sum over real positions t of log p(x_t | x_<t, y) + log p(y), where log p(y) is
  the train split's class frequency, baked in as a constant.

Training: Adam, gradient-norm clipping, length-bucketed batches (rows of similar length batched
together, batch order shuffled), per-epoch validation accuracy; the weights with the best
validation accuracy are kept and exported. Everything is seeded (random, numpy, torch) and runs
on a fixed number of threads, so a rerun with the same flags gives the same weights.

Besides MODEL.onnx it writes MODEL.train.json (settings, per-epoch history, timings, PyTorch test
accuracy) and MODEL.check.json (a few test rows with the PyTorch outputs of the exported forward,
so the ONNX graph can be compared against PyTorch with onnxruntime in Node).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- data


def read_jsonl(path, labels):
    rows = []
    with open(path, encoding="utf8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            label = obj["label"]
            if isinstance(label, str):
                label = labels.index(label)
            ids = obj["ids"]
            if len(ids) == 0:
                raise SystemExit(f"{path}:{n}: empty ids")
            rows.append((ids, int(label)))
    return rows


class Split:
    def __init__(self, rows, pad_id):
        self.n = len(rows)
        self.lengths = np.array([len(r[0]) for r in rows], dtype=np.int64)
        self.labels = np.array([r[1] for r in rows], dtype=np.int64)
        self.max_len = int(self.lengths.max())
        self.ids = np.full((self.n, self.max_len), pad_id, dtype=np.int64)
        for i, (ids, _) in enumerate(rows):
            self.ids[i, : len(ids)] = ids

    def batch(self, idx):
        idx = np.asarray(idx)
        lens = self.lengths[idx]
        t = int(lens.max())
        return (
            torch.from_numpy(self.ids[idx, :t].copy()),
            torch.from_numpy(lens.copy()),
            torch.from_numpy(self.labels[idx].copy()),
        )


def bucketed_batches(lengths, batch, rng):
    """Batches of rows of similar length (random tie-breaks), in shuffled order."""
    keys = lengths + rng.random(len(lengths))
    order = np.argsort(keys, kind="stable")
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    rng.shuffle(batches)
    return batches


def ordered_batches(lengths, batch):
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch] for i in range(0, len(order), batch)]


# ----------------------------------------------------------------------------- models


class Discriminative(nn.Module):
    def __init__(self, vocab, classes, emb, hidden, dropout, layers=1, bidirectional=False):
        super().__init__()
        self.packed = layers > 1 or bidirectional
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, input_ids, lengths):
        x = self.drop(self.emb(input_ids))
        if self.packed:
            # A backward direction must start at each row's last real token, not at the padding,
            # or a row's scores would depend on the batch it is padded in. Packing exports as the
            # ONNX LSTM's sequence_lens input; Y_h holds each direction's state after the row's
            # last real step (forward) or its first (backward).
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            dirs = 2 if self.lstm.bidirectional else 1
            # Explicit zero states: the exporter's own ones for a packed input keep the dummy
            # batch's size as a constant, and the graph then runs at that batch size only.
            h0 = x.new_zeros(self.lstm.num_layers * dirs, x.size(0), self.lstm.hidden_size)
            _, (h_n, _) = self.lstm(packed, (h0, h0))  # [layers * dirs, B, H]
            last = torch.cat([h_n[-dirs + d] for d in range(dirs)], dim=1)  # top layer, [B, dirs * H]
            return self.head(self.drop(last))
        out, _ = self.lstm(x)  # [B, T, H]
        idx = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, out.size(2))
        last = out.gather(1, idx).squeeze(1)  # [B, H]: hidden state at the last real token
        return self.head(self.drop(last))

    def loss(self, ids, lengths, y):
        return F.cross_entropy(self(ids, lengths), y)

    @torch.no_grad()
    def score(self, ids, lengths):
        return self(ids, lengths)


class Generative(nn.Module):
    def __init__(self, vocab, classes, emb, label_emb, hidden, dropout, log_prior, bos_id):
        super().__init__()
        self.classes = classes
        self.bos_id = bos_id
        self.emb = nn.Embedding(vocab, emb)
        self.label_emb = nn.Embedding(classes, label_emb)
        self.lstm = nn.LSTM(emb + label_emb, hidden, num_layers=1, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, vocab)
        self.register_buffer("log_prior", torch.tensor(log_prior, dtype=torch.float32))

    def _inputs(self, ids):
        bos = torch.full_like(ids[:, :1], self.bos_id)
        return torch.cat([bos, ids[:, :-1]], dim=1)  # previous token at each step

    def _hidden(self, ids, y):
        """LSTM outputs [B, T, H] for rows `ids` conditioned on labels y [B]."""
        e = self.drop(self.emb(self._inputs(ids)))
        lab = self.label_emb(y).unsqueeze(1).expand(-1, ids.size(1), -1)
        out, _ = self.lstm(torch.cat([e, lab], dim=2))
        return out

    def loss(self, ids, lengths, y):
        """Mean -log p(x_t | x_<t, y_true) over real tokens; the projection runs only there."""
        mask = torch.arange(ids.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
        h = self.drop(self._hidden(ids, y)[mask])  # [N, H]
        return F.cross_entropy(self.proj(h), ids[mask])

    @torch.no_grad()
    def score(self, ids, lengths, chunk=8192):
        """scores [B, C] like the exported forward, computed only at real positions."""
        b, t = ids.shape
        c = self.classes
        mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)  # [B, T]
        ids_c = ids.repeat_interleave(c, dim=0)  # row b*C + y
        y_c = torch.arange(c).repeat(b)
        mask_c = mask.repeat_interleave(c, dim=0)
        h = self._hidden(ids_c, y_c)[mask_c]  # [N, H]
        tgt = ids_c[mask_c]
        row = mask_c.nonzero()[:, 0]
        lp = torch.empty(h.size(0))
        for i in range(0, h.size(0), chunk):
            lp[i : i + chunk] = -F.cross_entropy(self.proj(h[i : i + chunk]), tgt[i : i + chunk], reduction="none")
        tot = torch.zeros(b * c).index_add_(0, row, lp)
        return tot.view(b, c) + self.log_prior

    def forward(self, input_ids, lengths):
        """The exported graph: every row expanded to every class, full log-softmax."""
        b = input_ids.size(0)
        t = input_ids.size(1)
        c = self.classes
        e = self.emb(self._inputs(input_ids))  # [B, T, E]
        e = e.unsqueeze(1).expand(-1, c, -1, -1).flatten(0, 1)  # [B*C, T, E], row b*C + y
        lab = self.label_emb.weight.unsqueeze(0).unsqueeze(2)  # [1, C, 1, L]
        lab = lab.expand(b, -1, t, -1).flatten(0, 1)  # [B*C, T, L]
        out, _ = self.lstm(torch.cat([e, lab], dim=2))  # [B*C, T, H]
        logp = F.log_softmax(self.proj(out), dim=2)  # [B*C, T, V]
        tgt = input_ids.unsqueeze(1).expand(-1, c, -1).flatten(0, 1).unsqueeze(2)  # [B*C, T, 1]
        tok = logp.gather(2, tgt).squeeze(2).view(b, c, t)  # [B, C, T]
        mask = (torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)).to(tok.dtype)  # [B, T]
        return (tok * mask.unsqueeze(1)).sum(dim=2) + self.log_prior


# ----------------------------------------------------------------------------- train / eval


def predict(model, split, batch):
    model.eval()
    preds = np.empty(split.n, dtype=np.int64)
    with torch.no_grad():
        for idx in ordered_batches(split.lengths, batch):
            ids, lens, _ = split.batch(idx)
            preds[idx] = model.score(ids, lens).argmax(dim=1).numpy()
    return preds


def macro_f1(y, p, classes):
    f1s = []
    for c in range(classes):
        tp = int(((p == c) & (y == c)).sum())
        fp = int(((p == c) & (y != c)).sum())
        fn = int(((p != c) & (y == c)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return float(np.mean(f1s))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="exported data set directory")
    ap.add_argument("--kind", required=True, choices=["disc", "gen"])
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--eval-batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lr-decay", type=float, default=1.0, help="learning rate factor per epoch")
    ap.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0: none)")
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--emb", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=None, help="LSTM hidden size (disc 256, gen 192)")
    ap.add_argument("--label-emb", type=int, default=32, help="label embedding width (gen)")
    ap.add_argument("--layers", type=int, default=1, help="stacked LSTM layers (disc)")
    ap.add_argument("--bidirectional", action="store_true", help="bidirectional LSTM (disc)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: with OpenMP, 2 threads on a shared 2-core machine ran 4x slower)")
    ap.add_argument("--max-train", type=int, default=0, help="use only the first N train rows (timing probes)")
    ap.add_argument("--max-val", type=int, default=0, help="validate on N val rows spread evenly over the split (0: all)")
    ap.add_argument("--patience", type=int, default=0, help="stop after N epochs without a better val accuracy (0: never)")
    args = ap.parse_args()
    if args.kind == "gen" and (args.layers != 1 or args.bidirectional):
        raise SystemExit("--layers and --bidirectional are for --kind disc only")
    if args.hidden is None:
        args.hidden = 256 if args.kind == "disc" else 192

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(args.seed)

    tok = json.load(open(os.path.join(args.data, "tokenizer.json"), encoding="utf8"))
    labels = json.load(open(os.path.join(args.data, "labels.json"), encoding="utf8"))
    if isinstance(labels, dict):  # tolerate {"labels": [...]}
        labels = labels["labels"]
    vocab = len(tok["vocab"])
    pad_id = int(tok.get("pad_id", 0))
    classes = len(labels)
    t0 = time.time()
    splits = {}
    for name in ("train", "val", "test"):
        rows = read_jsonl(os.path.join(args.data, f"{name}.jsonl"), labels)
        if name == "train" and args.max_train:
            rows = rows[: args.max_train]
        if name == "val" and args.max_val and args.max_val < len(rows):
            # Evenly spaced, not the first N: the split is in synset order, which groups classes.
            rows = [rows[i * len(rows) // args.max_val] for i in range(args.max_val)]
        splits[name] = Split(rows, pad_id)
    train, val, test = splits["train"], splits["val"], splits["test"]
    counts = np.bincount(train.labels, minlength=classes)
    log(f"data {args.data}: vocab {vocab}, classes {classes}, train {train.n} val {val.n} test {test.n}, "
        f"train mean length {train.lengths.mean():.1f}, class counts {counts.tolist()} ({time.time() - t0:.1f}s)")

    if args.kind == "disc":
        model = Discriminative(vocab, classes, args.emb, args.hidden, args.dropout, args.layers, args.bidirectional)
    else:
        log_prior = np.log(np.maximum(counts, 1) / counts.sum()).tolist()
        # <pad> (id 0) doubles as the begin-of-sequence symbol.
        model = Generative(vocab, classes, args.emb, args.label_emb, args.hidden, args.dropout, log_prior, pad_id)
    params = sum(p.numel() for p in model.parameters())
    log(f"{args.kind} model: {params} parameters")

    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    best = {"acc": -1.0, "epoch": 0, "state": None}
    history = []
    t_train = time.time()
    stale = 0
    for epoch in range(1, args.epochs + 1):
        te = time.time()
        model.train()
        lr = args.lr * args.lr_decay ** (epoch - 1)
        for g in opt.param_groups:
            g["lr"] = lr
        batches = bucketed_batches(train.lengths, args.batch, rng)
        tot_loss = 0.0
        last_report = time.time()
        for bi, idx in enumerate(batches, 1):
            ids, lens, y = train.batch(idx)
            loss = model.loss(ids, lens, y)
            opt.zero_grad()
            loss.backward()
            if args.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            tot_loss += loss.item()
            if time.time() - last_report > 60:
                log(f"  epoch {epoch} batch {bi}/{len(batches)} loss {tot_loss / bi:.4f}")
                last_report = time.time()
        train_s = time.time() - te
        tv = time.time()
        vpred = predict(model, val, args.eval_batch)
        vacc = float((vpred == val.labels).mean())
        val_s = time.time() - tv
        history.append({"epoch": epoch, "lr": lr, "train_loss": tot_loss / len(batches), "val_accuracy": vacc,
                        "train_s": round(train_s, 1), "val_s": round(val_s, 1)})
        mark = ""
        if vacc > best["acc"]:
            best = {"acc": vacc, "epoch": epoch, "state": {k: v.clone() for k, v in model.state_dict().items()}}
            mark = " *"
            stale = 0
        else:
            stale += 1
        log(f"epoch {epoch}/{args.epochs}: lr {lr:.2e} train loss {tot_loss / len(batches):.4f} "
            f"val acc {vacc:.4f}{mark} ({train_s:.0f}s train, {val_s:.0f}s val)")
        if args.patience and stale >= args.patience:
            log(f"no better val accuracy for {stale} epochs: stopping")
            break
    train_total = time.time() - t_train

    model.load_state_dict(best["state"])
    model.eval()
    tpred = predict(model, test, args.eval_batch)
    tacc = float((tpred == test.labels).mean())
    tf1 = macro_f1(test.labels, tpred, classes)
    log(f"best epoch {best['epoch']}: val acc {best['acc']:.4f}; test acc {tacc:.4f} macro-F1 {tf1:.4f} "
        f"(training {train_total:.0f}s)")

    # Export. A small dummy batch of two lengths; batch and seq are dynamic axes.
    out = args.out
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    out_name = "logits" if args.kind == "disc" else "scores"
    dummy_ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]], dtype=torch.int64) % vocab
    dummy_len = torch.tensor([4, 2], dtype=torch.int64)
    tmp = out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(
            model, (dummy_ids, dummy_len), tmp,
            input_names=["input_ids", "lengths"], output_names=[out_name],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "lengths": {0: "batch"}, out_name: {0: "batch"}},
            opset_version=17, do_constant_folding=True,
        )
    import onnx

    m = onnx.load(tmp)
    onnx.checker.check_model(m, full_check=True)
    os.replace(tmp, out)
    size = os.path.getsize(out)
    log(f"wrote {out} ({size} bytes), onnx checker ok")

    # Rows to compare the ONNX graph against PyTorch: the first test rows of several lengths.
    order = np.argsort(-test.lengths, kind="stable")
    pick = sorted(set(order[: 3].tolist() + list(range(min(5, test.n)))))
    ids, lens, _ = test.batch(pick)
    with torch.no_grad():
        ref = model(ids, lens)
        fast = model.score(ids, lens)
    agree = float((ref - fast).abs().max())
    log(f"exported forward vs training-time scorer on {len(pick)} rows: max |diff| {agree:.2e}")
    check = {"rows": [ids[i, : int(lens[i])].tolist() for i in range(len(pick))],
             "test_index": pick, "output": out_name, "scores": ref.tolist()}
    with open(out + ".check.json", "w") as f:
        json.dump(check, f)

    summary = {
        "kind": "discriminative" if args.kind == "disc" else "generative",
        "data": os.path.abspath(args.data),
        "settings": {k: v for k, v in vars(args).items() if k not in ("data", "out")},
        "architecture": ({"embedding": args.emb, "hidden": args.hidden, "layers": args.layers,
                          **({"bidirectional": True} if args.bidirectional else {})} if args.kind == "disc" else
                         {"embedding": args.emb, "label_embedding": args.label_emb, "hidden": args.hidden,
                          "layers": 1, "bos_id": pad_id, "log_prior": model.log_prior.tolist()}),
        "vocab": vocab, "classes": classes, "parameters": params,
        "splits": {"train": train.n, "val": val.n, "test": test.n},
        "history": history, "best_epoch": best["epoch"], "val_accuracy": best["acc"],
        "torch_test_accuracy": tacc, "torch_test_macro_f1": tf1,
        "train_seconds": round(train_total, 1), "total_seconds": round(time.time() - t0, 1),
        "torch": torch.__version__, "onnx_bytes": size,
        "command": " ".join(["/usr/bin/python3"] + [a if a and all(c.isalnum() or c in "-_./=:" for c in a) else json.dumps(a) for a in sys.argv]),
    }
    with open(out + ".train.json", "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
