"""GPFQ in its original data form (Lybrand and Saab 2021), for checking ptq-onnx's moment form.

Reads JSON on stdin: X and Xq (float and quantized layer inputs, [samples, cols]), W [rows, cols],
per-row scales, bits. For each row, walks the inputs keeping the running error vector
u in R^samples and picks q_t = Q(<Xq_t, u + w_t X_t> / |Xq_t|^2) on the symmetric narrow grid,
rounding as ONNX QuantizeLinear does (float32 division, half to even). Prints the codes as JSON.
"""
import json
import sys

import numpy as np

a = json.load(sys.stdin)
X = np.array(a["X"], dtype=np.float64)
Xq = np.array(a["Xq"], dtype=np.float64)
W = np.array(a["W"], dtype=np.float64)
scales = np.array(a["scales"], dtype=np.float32)
qmax = 2 ** (a["bits"] - 1) - 1

codes = np.zeros(W.shape, dtype=np.int64)
for r in range(W.shape[0]):
    u = np.zeros(X.shape[0])
    for t in range(W.shape[1]):
        norm = Xq[:, t] @ Xq[:, t]
        target = 0.0 if norm == 0 else (Xq[:, t] @ (u + W[r, t] * X[:, t])) / norm
        q = int(np.clip(np.round(np.float32(target) / scales[r]), -qmax, qmax))
        codes[r, t] = q
        u += W[r, t] * X[:, t] - float(np.float32(q * np.float64(scales[r]))) * Xq[:, t]
print(json.dumps(codes.tolist()))
