#!/usr/bin/python3
"""Write a tiny synthetic data dir in the export format (smoke tests of train.py).

    /usr/bin/python3 scripts/zoo/synthetic.py OUT_DIR [--rows 600] [--classes 3] [--vocab 200] [--max-len 16]
"""
import argparse, json, os, random

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--rows", type=int, default=600)
ap.add_argument("--classes", type=int, default=3)
ap.add_argument("--vocab", type=int, default=200)
ap.add_argument("--max-len", type=int, default=16)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rnd = random.Random(a.seed)
os.makedirs(a.out, exist_ok=True)
vocab = ["<pad>", "<unk>"] + [f"w{i}" for i in range(a.vocab - 2)]
labels = [f"class{c}" for c in range(a.classes)]
band = (a.vocab - 2) // a.classes
def row(i):
    y = rnd.randrange(a.classes)
    n = rnd.randint(1, a.max_len)
    ids = [2 + (y * band + rnd.randrange(band) if rnd.random() < 0.6 else rnd.randrange(a.vocab - 2)) for _ in range(n)]
    return {"id": f"s{i}", "text": " ".join(vocab[t] for t in ids), "ids": ids, "label": y}
rows = [row(i) for i in range(a.rows)]
cut1, cut2 = int(0.8 * a.rows), int(0.9 * a.rows)
for name, part in (("train", rows[:cut1]), ("val", rows[cut1:cut2]), ("test", rows[cut2:])):
    with open(os.path.join(a.out, f"{name}.jsonl"), "w") as f:
        for r in part: f.write(json.dumps(r) + "\n")
json.dump({"type": "word-regex", "lowercase": True, "pattern": "[a-z0-9]+(?:'[a-z]+)?", "vocab": vocab,
           "pad_id": 0, "unk_id": 1, "max_len": a.max_len, "truncation": "end"}, open(os.path.join(a.out, "tokenizer.json"), "w"))
json.dump(labels, open(os.path.join(a.out, "labels.json"), "w"))
json.dump({"name": "synthetic", "rows": a.rows}, open(os.path.join(a.out, "meta.json"), "w"))
